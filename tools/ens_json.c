/*
 * tools/ens_json.c - JSON <-> message values for run-time types
 * (tools/ens_json.h). The format is parsed into a tree of nodes, each with
 * its C offset inside its parent, by the rules of include/ensemble/msg.h
 * (the ones ens_msgtype_register applies); JSON is read and written with
 * jansson.
 */
#include "ens_json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_tool.h"
#include "ensemble/msg.h"

#define FORMAT_MAX_LEN   1024
#define FORMAT_MAX_DEPTH 16
#define MAX_NAMED        1024  /* named elements of one type */
#define MAX_ITEMS        8     /* top-level items (as the library) */
#define ARRAY_MAX        65536 /* elements of one A(...) read from JSON */
#define NAME_MAX_LEN     64
#define TYPE_NAME_MAX    255

enum kind { K_SCALAR, K_STRUCT, K_ARRAY, K_BYTES };

typedef struct node {
    enum kind kind;
    char ch;          /* K_SCALAR: the field character */
    const char *name; /* NULL for the root and an array's element */
    size_t off;       /* inside the parent (for an array element: 0) */
    size_t size, align;
    struct node *kids; /* K_STRUCT: members; K_ARRAY: one, the element */
    size_t n_kids;
} node;

struct ens_json_type {
    node root;
    char *names; /* the names, NUL-separated (nodes point into it) */
};

typedef struct parser {
    const char *p;
    char *next_name; /* into names */
    char *names_end;
    size_t n_named;
    bool generated; /* no names given: f0, f1, ... */
    char *err;
    size_t errlen;
} parser;

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t align_up(size_t n, size_t a)
{
    return a > 1 ? (n + a - 1) / a * a : n;
}

static size_t scalar_size(char ch)
{
    switch (ch) {
    case 'i':
    case 'u':
        return 4;
    case 'j':
    case 'v':
        return 2;
    case 'c':
        return 1;
    case 'f':
    case 'I':
    case 'U':
    case 's':
        return 8;
    default:
        return 0;
    }
}

/* The next name: given ones in order, else f0, f1, ... (written into the
 * names buffer, sized for them). */
static const char *take_name(parser *ps)
{
    if (ps->n_named >= MAX_NAMED)
        return NULL;
    if (ps->generated) {
        int w =
            snprintf(ps->next_name, (size_t)(ps->names_end - ps->next_name), "f%zu", ps->n_named);
        if (w < 0 || ps->next_name + w >= ps->names_end)
            return NULL;
        const char *name = ps->next_name;
        ps->next_name += w + 1;
        ps->n_named++;
        return name;
    }
    if (ps->next_name >= ps->names_end)
        return NULL;
    const char *name = ps->next_name;
    ps->next_name += strlen(name) + 1;
    ps->n_named++;
    return name;
}

static void free_tree(node *n)
{
    for (size_t i = 0; i < n->n_kids; i++)
        free_tree(&n->kids[i]);
    free(n->kids);
    n->kids = NULL;
    n->n_kids = 0;
}

static int add_kid(parser *ps, node *parent, node kid)
{
    node *k = realloc(parent->kids, (parent->n_kids + 1) * sizeof(*k));
    if (k == NULL) {
        free_tree(&kid);
        return fail(ps->err, ps->errlen, "out of memory");
    }
    parent->kids = k;
    parent->kids[parent->n_kids++] = kid;
    return 0;
}

/* Parse "(fields)" at ps->p into st's members (offsets from st's start),
 * setting st's size and alignment. */
static int parse_fields(parser *ps, node *st, int depth)
{
    if (depth > FORMAT_MAX_DEPTH)
        return fail(ps->err, ps->errlen, "format nests $(...) deeper than %d", FORMAT_MAX_DEPTH);
    if (*ps->p != '(')
        return fail(ps->err, ps->errlen, "format: '(' expected");
    ps->p++;
    size_t cur = 0, al = 1;
    while (*ps->p != ')') {
        char ch = *ps->p;
        node kid = {0};
        if (ch == '$') {
            ps->p++;
            kid.kind = K_STRUCT;
            if ((kid.name = take_name(ps)) == NULL)
                return fail(ps->err, ps->errlen, "fewer field names than fields");
            if (parse_fields(ps, &kid, depth + 1) < 0) {
                free_tree(&kid);
                return -1;
            }
        } else {
            size_t sz = scalar_size(ch);
            if (sz == 0)
                return fail(ps->err, ps->errlen, "format: unexpected '%s' in a struct",
                            ch == '\0' ? "end" : (char[2]){ch, '\0'});
            kid = (node){K_SCALAR, ch, take_name(ps), 0, sz, sz, NULL, 0};
            if (kid.name == NULL)
                return fail(ps->err, ps->errlen, "fewer field names than fields");
            ps->p++;
        }
        cur = align_up(cur, kid.align);
        kid.off = cur;
        cur += kid.size;
        if (kid.align > al)
            al = kid.align;
        if (add_kid(ps, st, kid) < 0)
            return -1;
    }
    ps->p++;
    if (st->n_kids == 0)
        return fail(ps->err, ps->errlen, "format: empty struct");
    st->size = align_up(cur, al);
    st->align = al;
    return 0;
}

static int check_names_distinct(const node *st, char *err, size_t errlen)
{
    for (size_t i = 0; i < st->n_kids; i++) {
        for (size_t k = i + 1; k < st->n_kids; k++) {
            if (strcmp(st->kids[i].name, st->kids[k].name) == 0)
                return fail(err, errlen, "field name '%s' given twice in one struct",
                            ens_tool_esc(st->kids[i].name));
        }
        const node *kid = &st->kids[i];
        const node *inner = kid->kind == K_ARRAY ? &kid->kids[0] : kid;
        if (inner->kind == K_STRUCT && check_names_distinct(inner, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Split fields into NUL-separated names, checked. */
static char *split_names(const char *fields, size_t *room, char *err, size_t errlen)
{
    size_t len = strlen(fields);
    char *names = malloc(len + 1);
    if (names == NULL) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    size_t run = 0;
    for (size_t i = 0; i <= len; i++) {
        char ch = fields[i];
        if (ch == ',' || ch == '\0') {
            if (run == 0) {
                free(names);
                fail(err, errlen, "an empty field name in '%s'", ens_tool_esc(fields));
                return NULL;
            }
            names[i] = '\0';
            run = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        if (!ok || ++run > NAME_MAX_LEN) {
            free(names);
            fail(err, errlen, "bad field name in '%s' (1-%d of A-Z a-z 0-9 _)",
                 ens_tool_esc(fields), NAME_MAX_LEN);
            return NULL;
        }
        names[i] = ch;
    }
    *room = len + 1;
    return names;
}

int ens_json_type_new(const char *format, const char *fields, uint64_t size, ens_json_type **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (format == NULL || format[0] == '\0' || strlen(format) > FORMAT_MAX_LEN)
        return fail(err, errlen, "no format, or one longer than %d", FORMAT_MAX_LEN);
    ens_json_type *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return fail(err, errlen, "out of memory");
    parser ps = {.p = format, .err = err, .errlen = errlen};
    size_t room = 0;
    if (fields != NULL && fields[0] != '\0') {
        t->names = split_names(fields, &room, err, errlen);
    } else {
        room = strlen(format) * 8 + 1; /* "f1023\0" and less per element */
        t->names = calloc(1, room);
        ps.generated = true;
        if (t->names == NULL)
            fail(err, errlen, "out of memory");
    }
    if (t->names == NULL) {
        free(t);
        return -1;
    }
    ps.next_name = t->names;
    ps.names_end = t->names + room;
    node *root = &t->root;
    root->kind = K_STRUCT;
    size_t cur = 0, max_align = 1, items = 0;
    int rc = 0;
    while (rc == 0 && *ps.p != '\0') {
        char ch = *ps.p++;
        if (++items > MAX_ITEMS) {
            rc = fail(err, errlen, "format has more than %d items", MAX_ITEMS);
        } else if (ch == 'S' && items == 1) {
            rc = parse_fields(&ps, root, 0);
            cur = root->size;
            max_align = root->align;
        } else if (ch == 'B') {
            node kid = {K_BYTES, 'B', take_name(&ps), 0, sizeof(ens_bytes), 8, NULL, 0};
            if (kid.name == NULL)
                rc = fail(err, errlen, "fewer field names than fields");
            cur = align_up(cur, 8);
            kid.off = cur;
            cur += kid.size;
            if (rc == 0)
                rc = add_kid(&ps, root, kid);
            max_align = 8;
        } else if (ch == 'A' && *ps.p == '(') {
            ps.p++;
            node arr = {K_ARRAY, 'A', take_name(&ps), 0, sizeof(ens_array), 8, NULL, 0};
            node elem = {0};
            if (arr.name == NULL) {
                rc = fail(err, errlen, "fewer field names than fields");
            } else if (*ps.p == 'S') {
                ps.p++;
                elem.kind = K_STRUCT;
                rc = parse_fields(&ps, &elem, 0);
            } else if (scalar_size(*ps.p) != 0) {
                elem = (node){K_SCALAR,           *ps.p, NULL, 0, scalar_size(*ps.p),
                              scalar_size(*ps.p), NULL,  0};
                ps.p++;
            } else {
                rc = fail(err, errlen, "format: bad array element");
            }
            if (rc == 0 && *ps.p != ')')
                rc = fail(err, errlen, "format: ')' expected after an array element");
            if (rc == 0) {
                ps.p++;
                rc = add_kid(&ps, &arr, elem);
            } else {
                free_tree(&elem);
            }
            cur = align_up(cur, 8);
            arr.off = cur;
            cur += arr.size;
            if (rc == 0)
                rc = add_kid(&ps, root, arr);
            else
                free_tree(&arr);
            max_align = 8;
        } else {
            rc = fail(err, errlen, "format: unexpected '%c' (S(...) first, then A(...) or B)",
                      ch >= 0x20 && ch < 0x7f ? ch : '?');
        }
    }
    if (rc == 0 && !ps.generated && ps.next_name < ps.names_end)
        rc = fail(err, errlen, "more field names than fields");
    if (rc == 0)
        rc = check_names_distinct(root, err, errlen);
    if (rc == 0) {
        root->size = align_up(cur, max_align);
        root->align = max_align;
        if (root->size != size)
            rc = fail(err, errlen, "size %" PRIu64 " does not match the format's %zu", size,
                      root->size);
    }
    if (rc < 0) {
        ens_json_type_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 0x811C9DC5u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x01000193u;
    }
    return h;
}

int ens_json_type_from_desc(const char *name, uint32_t id, const char *format, const char *fields,
                            uint64_t size, ens_json_type **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n = 0;
    for (; name != NULL && name[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)name[n];
        if (ch <= 0x20 || ch >= 0x7F || n >= TYPE_NAME_MAX)
            return fail(err, errlen, "bad type name (1-%d printable ASCII bytes, no space)",
                        TYPE_NAME_MAX);
    }
    if (n == 0)
        return fail(err, errlen, "no type name");
    if (id != fnv1a(name))
        return fail(err, errlen, "id 0x%08" PRIx32 " is not its name's", id);
    return ens_json_type_new(format, fields, size, out, err, errlen);
}

void ens_json_type_free(ens_json_type *t)
{
    if (t == NULL)
        return;
    free_tree(&t->root);
    free(t->names);
    free(t);
}

size_t ens_json_type_size(const ens_json_type *t)
{
    return t->root.size;
}

/* ---- JSON -> value ---- */

typedef struct enc {
    char *err;
    size_t errlen;
    char path[256];
} enc;

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int bad(enc *e, const char *want, const json_t *got)
{
    return fail(e->err, e->errlen, "field '%s': expected %s, got %s", e->path, want, kind_of(got));
}

static int range(enc *e, const char *want)
{
    return fail(e->err, e->errlen, "field '%s': out of range (%s)", e->path, want);
}

static int integer_in(enc *e, const json_t *v, long long lo, long long hi, const char *want,
                      long long *out)
{
    if (!json_is_integer(v))
        return bad(e, want, v);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return range(e, want);
    *out = x;
    return 0;
}

static int put_scalar(enc *e, char ch, const json_t *v, char *at)
{
    long long x = 0;
    switch (ch) {
    case 'i':
        if (integer_in(e, v, INT32_MIN, INT32_MAX, "an integer -2147483648..2147483647", &x) < 0)
            return -1;
        *(int32_t *)at = (int32_t)x;
        return 0;
    case 'u':
        if (integer_in(e, v, 0, UINT32_MAX, "an integer 0..4294967295", &x) < 0)
            return -1;
        *(uint32_t *)at = (uint32_t)x;
        return 0;
    case 'j':
        if (integer_in(e, v, INT16_MIN, INT16_MAX, "an integer -32768..32767", &x) < 0)
            return -1;
        *(int16_t *)at = (int16_t)x;
        return 0;
    case 'v':
        if (integer_in(e, v, 0, UINT16_MAX, "an integer 0..65535", &x) < 0)
            return -1;
        *(uint16_t *)at = (uint16_t)x;
        return 0;
    case 'c':
        if (json_is_string(v) && json_string_length(v) == 1) {
            *at = json_string_value(v)[0];
            return 0;
        }
        if (integer_in(e, v, -128, 127, "an integer -128..127", &x) < 0)
            return -1;
        *at = (char)x;
        return 0;
    case 'I':
        if (!json_is_integer(v))
            return bad(e, "an integer", v);
        *(int64_t *)at = (int64_t)json_integer_value(v);
        return 0;
    case 'U': {
        if (json_is_integer(v)) {
            if (json_integer_value(v) < 0)
                return range(e, "0..18446744073709551615");
            *(uint64_t *)at = (uint64_t)json_integer_value(v);
            return 0;
        }
        if (!json_is_string(v))
            return bad(e, "an integer or a string of decimal digits", v);
        const char *s = json_string_value(v);
        uint64_t n = 0;
        if (*s == '\0')
            return range(e, "a string of decimal digits");
        for (; *s != '\0'; s++) {
            if (*s < '0' || *s > '9')
                return range(e, "a string of decimal digits");
            unsigned d = (unsigned)(*s - '0');
            if (n > (UINT64_MAX - d) / 10)
                return range(e, "0..18446744073709551615");
            n = n * 10 + d;
        }
        *(uint64_t *)at = n;
        return 0;
    }
    case 'f':
        if (!json_is_number(v))
            return bad(e, "a number", v);
        *(double *)at = json_number_value(v);
        return 0;
    case 's': {
        if (json_is_null(v)) {
            *(char **)at = NULL;
            return 0;
        }
        if (!json_is_string(v))
            return bad(e, "a string or null", v);
        size_t len = json_string_length(v);
        if (strlen(json_string_value(v)) != len)
            return fail(e->err, e->errlen, "field '%s': a string with a NUL byte", e->path);
        char *copy = strdup(json_string_value(v));
        if (copy == NULL)
            return fail(e->err, e->errlen, "out of memory");
        *(char **)at = copy;
        return 0;
    }
    default:
        return fail(e->err, e->errlen, "field '%s': unknown field character", e->path);
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int put_bytes(enc *e, const json_t *v, ens_bytes *b)
{
    if (!json_is_string(v))
        return bad(e, "a string of hexadecimal digits", v);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len % 2 != 0 || len / 2 > UINT32_MAX)
        return fail(e->err, e->errlen, "field '%s': hexadecimal digits come in pairs", e->path);
    uint8_t *data = malloc(len / 2 + 1);
    if (data == NULL)
        return fail(e->err, e->errlen, "out of memory");
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(data);
            return fail(e->err, e->errlen, "field '%s': not a hexadecimal digit at %zu", e->path,
                        hi < 0 ? 2 * i : 2 * i + 1);
        }
        data[i] = (uint8_t)(hi << 4 | lo);
    }
    b->data = data;
    b->len = (uint32_t)(len / 2);
    return 0;
}

static int put_node(enc *e, const node *n, const json_t *v, char *at);

static int put_struct(enc *e, const node *st, const json_t *obj, char *base)
{
    if (!json_is_object(obj))
        return bad(e, "an object", obj);
    size_t plen = strlen(e->path);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; i < st->n_kids && !known; i++)
            known = strcmp(st->kids[i].name, key) == 0;
        if (!known)
            return fail(e->err, e->errlen, "field '%s%s%s': the type has no such field", e->path,
                        plen > 0 ? "." : "", ens_tool_esc(key));
    }
    for (size_t i = 0; i < st->n_kids; i++) {
        const node *kid = &st->kids[i];
        snprintf(e->path + plen, sizeof(e->path) - plen, "%s%s", plen > 0 ? "." : "", kid->name);
        const json_t *kv = json_object_get(obj, kid->name);
        if (kv == NULL)
            return fail(e->err, e->errlen, "field '%s': missing", e->path);
        if (put_node(e, kid, kv, base + kid->off) < 0)
            return -1;
        e->path[plen] = '\0';
    }
    return 0;
}

static int put_node(enc *e, const node *n, const json_t *v, char *at)
{
    switch (n->kind) {
    case K_SCALAR:
        return put_scalar(e, n->ch, v, at);
    case K_STRUCT:
        return put_struct(e, n, v, at);
    case K_BYTES:
        return put_bytes(e, v, (ens_bytes *)at);
    case K_ARRAY: {
        if (!json_is_array(v))
            return bad(e, "an array", v);
        size_t count = json_array_size(v);
        if (count > ARRAY_MAX)
            return fail(e->err, e->errlen, "field '%s': more than %d elements", e->path, ARRAY_MAX);
        const node *el = &n->kids[0];
        ens_array *a = (ens_array *)at;
        if (count == 0)
            return 0;
        a->items = calloc(count, el->size);
        if (a->items == NULL)
            return fail(e->err, e->errlen, "out of memory");
        a->count = (uint32_t)count;
        size_t plen = strlen(e->path);
        for (size_t i = 0; i < count; i++) {
            snprintf(e->path + plen, sizeof(e->path) - plen, "[%zu]", i);
            if (put_node(e, el, json_array_get(v, i), (char *)a->items + i * el->size) < 0)
                return -1;
        }
        e->path[plen] = '\0';
        return 0;
    }
    }
    return -1;
}

static void free_node(const node *n, char *at)
{
    switch (n->kind) {
    case K_SCALAR:
        if (n->ch == 's')
            free(*(char **)at);
        break;
    case K_STRUCT:
        for (size_t i = 0; i < n->n_kids; i++)
            free_node(&n->kids[i], at + n->kids[i].off);
        break;
    case K_BYTES:
        free(((ens_bytes *)at)->data);
        break;
    case K_ARRAY: {
        ens_array *a = (ens_array *)at;
        for (size_t i = 0; a->items != NULL && i < a->count; i++)
            free_node(&n->kids[0], (char *)a->items + i * n->kids[0].size);
        free(a->items);
        break;
    }
    }
}

void ens_json_value_free(const ens_json_type *t, void *value)
{
    if (t == NULL || value == NULL)
        return;
    free_node(&t->root, value);
    free(value);
}

int ens_json_to_value(const ens_json_type *t, const char *text, void **value, char *err,
                      size_t errlen)
{
    *value = NULL;
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (j == NULL)
        return fail(err, errlen, "not JSON: %s (at column %d)", je.text, je.column);
    char *v = calloc(1, t->root.size > 0 ? t->root.size : 1);
    enc e = {err, errlen, ""};
    int rc = v == NULL ? fail(err, errlen, "out of memory") : put_struct(&e, &t->root, j, v);
    json_decref(j);
    if (rc < 0) {
        if (v != NULL)
            ens_json_value_free(t, v);
        return -1;
    }
    *value = v;
    return 0;
}

/* ---- value -> JSON ---- */

static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    return j != NULL ? j : json_string(ens_tool_esc(s)); /* not UTF-8: escaped */
}

static json_t *get_node(const node *n, const char *at);

static json_t *get_scalar(char ch, const char *at)
{
    switch (ch) {
    case 'i':
        return json_integer(*(const int32_t *)at);
    case 'u':
        return json_integer(*(const uint32_t *)at);
    case 'j':
        return json_integer(*(const int16_t *)at);
    case 'v':
        return json_integer(*(const uint16_t *)at);
    case 'c':
        return json_integer((signed char)*at);
    case 'I':
        return json_integer(*(const int64_t *)at);
    case 'U': {
        uint64_t x = *(const uint64_t *)at;
        if (x <= INT64_MAX)
            return json_integer((json_int_t)x);
        char buf[24];
        snprintf(buf, sizeof(buf), "%" PRIu64, x);
        return json_string(buf);
    }
    case 'f': {
        json_t *j = json_real(*(const double *)at);
        return j != NULL ? j : json_null(); /* NaN, infinity */
    }
    case 's': {
        const char *s = *(char *const *)at;
        return s != NULL ? text_json(s) : json_null();
    }
    default:
        return NULL;
    }
}

static json_t *get_node(const node *n, const char *at)
{
    switch (n->kind) {
    case K_SCALAR:
        return get_scalar(n->ch, at);
    case K_STRUCT: {
        json_t *o = json_object();
        for (size_t i = 0; o != NULL && i < n->n_kids; i++) {
            json_t *kv = get_node(&n->kids[i], at + n->kids[i].off);
            if (kv == NULL || json_object_set_new(o, n->kids[i].name, kv) < 0) {
                json_decref(o);
                o = NULL;
            }
        }
        return o;
    }
    case K_BYTES: {
        const ens_bytes *b = (const ens_bytes *)at;
        char *hex = malloc((size_t)b->len * 2 + 1);
        if (hex == NULL)
            return NULL;
        for (uint32_t i = 0; i < b->len; i++)
            snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)b->data)[i]);
        hex[(size_t)b->len * 2] = '\0';
        json_t *j = json_string(hex);
        free(hex);
        return j;
    }
    case K_ARRAY: {
        const ens_array *a = (const ens_array *)at;
        json_t *arr = json_array();
        for (uint32_t i = 0; arr != NULL && a->items != NULL && i < a->count; i++) {
            json_t *el = get_node(&n->kids[0], (const char *)a->items + i * n->kids[0].size);
            if (el == NULL || json_array_append_new(arr, el) < 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        return arr;
    }
    }
    return NULL;
}

char *ens_json_from_value(const ens_json_type *t, const void *value)
{
    json_t *j = get_node(&t->root, value);
    if (j == NULL)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

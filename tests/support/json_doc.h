/*
 * tests/support/json_doc.h - reading the `ens` tool's --json output in the
 * CLI suites: parse it with jansson, take the array under a key, find rows
 * by a field. Header only (static inline), so that only the suites that
 * include it need jansson (CMakeLists.txt links it to the CLI suites).
 * Every helper fails the running cmocka test with the text when the
 * document is not what it must be.
 */
#ifndef ENS_TEST_JSON_DOC_H
#define ENS_TEST_JSON_DOC_H

#include <stddef.h>
#include <string.h>

#include <jansson.h>

/* text must be one JSON object holding an array under key: returns the
 * object (json_decref it) and the array in *rows. */
static inline json_t *json_doc(const char *text, const char *key, json_t **rows)
{
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    if (root == NULL)
        fail_msg("not JSON (%s, line %d): %s", err.text, err.line, text);
    *rows = json_object_get(root, key);
    if (!json_is_object(root) || !json_is_array(*rows))
        fail_msg("no array \"%s\" in: %s", key, text);
    return root;
}

/* The same for a document among other lines (stderr merged into stdout):
 * it starts at the first line that begins with '{'; text may follow it. */
static inline json_t *json_doc_within(const char *text, const char *key, json_t **rows)
{
    const char *p = text[0] == '{' ? text : strstr(text, "\n{");
    if (p == NULL)
        fail_msg("no JSON document in: %s", text);
    p += p[0] == '\n';
    json_error_t err;
    json_t *root = json_loads(p, JSON_DISABLE_EOF_CHECK, &err);
    if (root == NULL)
        fail_msg("not JSON (%s, line %d): %s", err.text, err.line, p);
    *rows = json_object_get(root, key);
    if (!json_is_object(root) || !json_is_array(*rows))
        fail_msg("no array \"%s\" in: %s", key, text);
    return root;
}

/* The string at key of o, or NULL (missing, null or not a string). */
static inline const char *json_text(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The integer at key of o; fails the test if there is none. */
static inline long long json_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

/* Whether o has key with the value null. */
static inline int json_is_null_at(const json_t *o, const char *key)
{
    return json_is_null(json_object_get(o, key));
}

/* The first row of rows whose key is the string value, or NULL. */
static inline json_t *json_row_where(json_t *rows, const char *key, const char *value)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *v = json_text(row, key);
        if (v != NULL && strcmp(v, value) == 0)
            return row;
    }
    return NULL;
}

/* How many rows have key equal to the string value. */
static inline size_t json_count_where(json_t *rows, const char *key, const char *value)
{
    size_t i, n = 0;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *v = json_text(row, key);
        n += v != NULL && strcmp(v, value) == 0;
    }
    return n;
}

#endif

/*
 * tests/test_ens_cli.c - the `ens` program as a user runs it: each test
 * writes a journal with the writer, runs the built binary (ENS_TOOL_PATH,
 * set by CMakeLists.txt) as a subprocess with stdout and stderr captured in
 * files, and checks the exit code and the text: the table, JSON lines,
 * every filter, --count-by, --help, and the errors for a missing journal, a
 * corrupt file, a bad time, a bad address and unknown options.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "ensemble/version.h"
#include "persistence/journal_writer.h"
#include "support/json_doc.h"
#include "support/run_tool.h"
#include "support/scratch.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define BASE_MS INT64_C(1709294400000) /* 2024-03-01T12:00:00Z, well in the past */

typedef struct fixture {
    char dir[64];
    char db[128];
    char *stdout_text, *stderr_text;
} fixture;

static void add(ens_jwriter *w, int64_t at_ms, ens_event_kind kind, uint64_t id, const char *type,
                const char *msg, int32_t error, int32_t sig, uint32_t attempt, const char *reason)
{
    ens_event e;
    memset(&e, 0, sizeof(e));
    e.at_ms = at_ms;
    e.kind = kind;
    e.actor = (ens_addr){id, 1, 0};
    e.parent = (ens_addr){16, 1, 0};
    e.actor_type = type;
    e.msg_type = msg;
    e.error = error;
    e.signal = sig;
    e.attempt = attempt;
    e.incarnation = 1;
    e.msg_size = 24;
    e.reason = reason;
    assert_int_equal(ens__jwriter_append(w, &e), 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Six rows at fixed times plus two relative to now (for --since -1h). */
static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_cli_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/j.db", fx->dir);
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "clisys", &w), 0);
    add(w, BASE_MS + 1000, ENS_EV_ERROR, 17, "worker", "job", ENS_EINVAL, 0, 1, "bad input");
    add(w, BASE_MS + 2000, ENS_EV_RETRY, 17, "worker", "job", 0, 0, 2, "retrying");
    add(w, BASE_MS + 3000, ENS_EV_POISON, 17, "worker", "job", ENS_EINVAL, 0, 2,
        "said \"no\"\nthen stopped");
    add(w, BASE_MS + 4000, ENS_EV_CRASH, 18, "cache", "get", 0, 11, 1, "segfault");
    add(w, BASE_MS + 5000, ENS_EV_RESTART, 18, "cache", "", 0, 0, 0, "restarted é∂");
    add(w, BASE_MS + 6000, ENS_EV_DEAD_LETTER, 99, "", "ping", ENS_ENOACTOR, 0, 0, "no actor");
    int64_t now = now_ms();
    add(w, now - 2 * 3600 * 1000, ENS_EV_ERROR, 20, "recent", "tick", ENS_EIO, 0, 1, "two hours");
    add(w, now - 5 * 60 * 1000, ENS_EV_ERROR, 20, "recent", "tick", ENS_EIO, 0, 1, "five min");
    assert_int_equal(ens__jwriter_flush(w), 0);
    ens__jwriter_close(w);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    free(fx->stdout_text);
    free(fx->stderr_text);
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

/* Run ens with args (NULL-terminated, without argv[0]); env_kv is an
 * optional "NAME=value" to set in the child. Returns the exit code; the
 * output is in fx->stdout_text / stderr_text. */
static int run_env(fixture *fx, const char *env_kv, const char *const *args)
{
    test_tool_opts o = {.env = (const char *const[]){env_kv, NULL}};
    return test_tool_run(ENS_TOOL_PATH, args, &o, &fx->stdout_text, &fx->stderr_text);
}

#define RUN(fx, ...) run_env((fx), NULL, (const char *const[]){__VA_ARGS__, NULL})

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

/* ---- usage ---- */

static void test_no_command_prints_usage_and_exits_2(void **state)
{
    fixture *fx = *state;
    const char *none[] = {NULL};
    assert_int_equal(run_env(fx, NULL, none), 2);
    assert_contains(fx->stderr_text, "Usage: ens <command>");
    assert_int_equal(RUN(fx, "frobnicate"), 2);
    assert_contains(fx->stderr_text, "unknown command 'frobnicate'");
}

static void test_help_lists_every_command(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "--help"), 0);
    const char *cmds[] = {"status", "names", "ask", "tell", "shutdown", "journal", "shell"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char line[32];
        snprintf(line, sizeof(line), "\n  %s ", cmds[i]);
        assert_contains(fx->stdout_text, line);
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char line[32];
        assert_int_equal(RUN(fx, cmds[i], "--help"), 0);
        snprintf(line, sizeof(line), "usage: ens %s", cmds[i]);
        assert_contains(fx->stdout_text, line);
    }
    assert_int_equal(RUN(fx, "journal", "--help"), 0);
    assert_contains(fx->stdout_text, "--since TIME");
    assert_contains(fx->stdout_text, "--count-by");
    assert_int_equal(RUN(fx, "help", "journal"), 0);
    assert_contains(fx->stdout_text, "usage: ens journal");
}

/* `ens --version`, `-V` and `ens version` print the version of the header
 * ens was built with, which is the library's (ens runs with the build's). */
static void test_version_prints_the_library_version(void **state)
{
    fixture *fx = *state;
    char want[64];
    snprintf(want, sizeof(want), "ens (ensemble) %s\n", ENS_VERSION_STRING);
    const char *forms[] = {"--version", "-V", "version"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        assert_int_equal(RUN(fx, forms[i]), 0);
        assert_string_equal(fx->stdout_text, want);
        assert_string_equal(fx->stderr_text, "");
    }
    assert_string_equal(ens_version_string(), ENS_VERSION_STRING);
    assert_int_equal(RUN(fx, "version", "extra"), 2);
    assert_contains(fx->stderr_text, "unexpected argument 'extra'");
}

/* `ens help all` (what ens(1) is built from) holds every command's --help,
 * each under its own heading, in the order of `ens --help`. */
static void test_help_all_holds_every_commands_help(void **state)
{
    fixture *fx = *state;
    const char *cmds[] = {"status", "names", "ask", "tell", "shutdown", "journal", "shell"};
    assert_int_equal(RUN(fx, "help", "all"), 0);
    char *all = strdup(fx->stdout_text);
    assert_non_null(all);
    const char *at = all;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char heading[64];
        snprintf(heading, sizeof(heading), "=== ens %s ===\n", cmds[i]);
        const char *h = strstr(at, heading);
        if (h == NULL)
            fail_msg("no \"%s\" after offset %td in:\n%s", heading, at - all, all);
        at = h + strlen(heading);
        assert_int_equal(RUN(fx, cmds[i], "--help"), 0);
        assert_memory_equal(at, fx->stdout_text, strlen(fx->stdout_text));
    }
    free(all);
}

/* ---- output ---- */

static void test_table_shows_rows_newest_first_aligned(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "journal", "--db", fx->db), 0);
    const char *t = fx->stdout_text;
    assert_int_equal(count_lines(t), 1 + 8);
    assert_true(strncmp(t, "TIME", 4) == 0);
    assert_contains(t, "KIND");
    assert_contains(t, "REASON");
    assert_contains(t, "2024-03-01T12:00:04.000Z  crash");
    assert_contains(t, "SIGSEGV");
    assert_contains(t, "ENS_EINVAL");
    assert_contains(t, "ENS_ENOACTOR");
    assert_contains(t, "said \"no\"\\nthen stopped"); /* one line per row */
    assert_contains(t, "restarted é∂");
    /* newest first: the fixed rows come after the recent ones, 6s before 1s */
    assert_true(strstr(t, "five min") < strstr(t, "two hours"));
    assert_true(strstr(t, "no actor") < strstr(t, "bad input"));
    /* aligned: KIND starts in the same column in the header and every row */
    const char *header_kind = strstr(t, "KIND");
    size_t col = (size_t)(header_kind - t);
    const char *row = strstr(t, "2024-03-01T12:00:01.000Z");
    assert_non_null(row);
    assert_true(strncmp(row + col, "error", 5) == 0);
}

/* The JSON of `ens journal --json`: the rows under "journal". */
static size_t journal_rows(const fixture *fx, json_t **root, json_t **rows)
{
    *root = json_doc(fx->stdout_text, "journal", rows);
    return json_array_size(*rows);
}

static void test_json_document_carries_every_field_escaped(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--json"), 0);
    json_t *root, *rows;
    assert_int_equal(journal_rows(fx, &root, &rows), 8);
    assert_int_equal(json_count_where(rows, "system", "clisys"), 8);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        assert_true(json_num(row, "seq") > 0);
        assert_true(json_num(row, "at_ms") > 0);
    }
    json_t *crash = json_row_where(rows, "kind", "crash");
    assert_non_null(crash);
    assert_string_equal(json_text(crash, "actor"), "ens:1/18");
    assert_string_equal(json_text(crash, "actor_type"), "cache");
    assert_string_equal(json_text(crash, "parent"), "ens:1/16");
    assert_string_equal(json_text(crash, "msg_type"), "get");
    assert_true(json_is_null_at(crash, "sender"));
    assert_int_equal(json_num(crash, "signal"), 11);
    /* The name the table shows (it was empty in JSON). */
    assert_string_equal(json_text(crash, "error_name"), "SIGSEGV");
    json_t *einval = json_row_where(rows, "error_name", "ENS_EINVAL");
    assert_non_null(einval);
    assert_int_equal(json_num(einval, "error"), -22);
    assert_non_null(json_row_where(rows, "reason", "said \"no\"\nthen stopped"));
    assert_non_null(json_row_where(rows, "reason", "restarted é∂"));
    assert_non_null(json_row_where(rows, "time", "2024-03-01T12:00:06.000Z"));
    json_decref(root);
}

/* The rows of `ens journal --db DB --json ARGS...`. */
#define JROWS(fx, ...)                                                                             \
    (assert_int_equal(RUN(fx, "journal", "--db", (fx)->db, "--json", __VA_ARGS__), 0),             \
     json_rows_of(fx))

static size_t json_rows_of(const fixture *fx)
{
    json_t *root, *rows;
    size_t n = journal_rows(fx, &root, &rows);
    json_decref(root);
    return n;
}

/* ---- filters ---- */

static void test_filters_select_rows(void **state)
{
    fixture *fx = *state;
    json_t *root, *rows;
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--json", "--kind", "crash,poison"), 0);
    assert_int_equal(journal_rows(fx, &root, &rows), 2);
    assert_int_equal(json_count_where(rows, "kind", "crash"), 1);
    assert_int_equal(json_count_where(rows, "kind", "poison"), 1);
    json_decref(root);

    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--json", "--type", "worker"), 0);
    assert_int_equal(journal_rows(fx, &root, &rows), 3);
    assert_int_equal(json_count_where(rows, "actor_type", "worker"), 3);
    json_decref(root);

    assert_int_equal(JROWS(fx, "--actor", "ens:1/18"), 2);
    assert_int_equal(JROWS(fx, "--msg-type", "job"), 3);

    /* ISO times, with and without seconds and Z; until is exclusive. */
    assert_int_equal(JROWS(fx, "--since", "2024-03-01T12:00:02Z", "--until", "2024-03-01T12:00:05"),
                     3);
    assert_int_equal(JROWS(fx, "--since", "2024-03-01T12:00", "--until", "1709294402000"), 1);
    assert_contains(fx->stdout_text, "bad input");

    /* Relative: only the row from five minutes ago is within the hour. */
    assert_int_equal(JROWS(fx, "--since", "-1h"), 1);
    assert_contains(fx->stdout_text, "five min");
    assert_int_equal(JROWS(fx, "--since=-1d"), 2);

    assert_int_equal(JROWS(fx, "--limit", "2"), 2);
    assert_contains(fx->stdout_text, "five min");

    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--type", "nobody"), 0);
    assert_contains(fx->stdout_text, "no failures match");
    assert_int_equal(JROWS(fx, "--type", "nobody"), 0); /* an empty array, not nothing */
}

static void test_count_by_kind_and_type(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--count-by", "kind", "--json"), 0);
    json_t *rows, *root = json_doc(fx->stdout_text, "counts", &rows);
    assert_int_equal(json_array_size(rows), 6);
    assert_int_equal(json_num(json_row_where(rows, "kind", "error"), "count"), 3);
    assert_int_equal(json_num(json_row_where(rows, "kind", "crash"), "count"), 1);
    json_decref(root);
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--count-by", "type"), 0);
    assert_true(strncmp(fx->stdout_text, "TYPE", 4) == 0);
    assert_contains(fx->stdout_text, "worker");
    assert_contains(fx->stdout_text, "recent");
}

static void test_system_name_finds_the_default_path(void **state)
{
    fixture *fx = *state;
    char dir[200], path[260], env[220];
    snprintf(dir, sizeof(dir), "%s/state/ensemble", fx->dir);
    snprintf(path, sizeof(path), "%s/mysys.db", dir);
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(path, "mysys", &w), 0); /* creates the directories */
    add(w, BASE_MS, ENS_EV_EXIT, 30, "named", "", 0, 0, 0, "from the default path");
    ens__jwriter_close(w);
    snprintf(env, sizeof(env), "XDG_STATE_HOME=%s/state", fx->dir);
    assert_int_equal(run_env(fx, env, (const char *const[]){"journal", "mysys", NULL}), 0);
    assert_contains(fx->stdout_text, "from the default path");
    assert_int_equal(run_env(fx, env, (const char *const[]){"journal", "othersys", NULL}), 1);
    assert_contains(fx->stderr_text, "no journal at");
    assert_contains(fx->stderr_text, "othersys.db");
}

/* ---- errors ---- */

static void test_missing_journal_is_a_runtime_error(void **state)
{
    fixture *fx = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/nothere.db", fx->dir);
    assert_int_equal(RUN(fx, "journal", "--db", path), 1);
    assert_contains(fx->stderr_text, "no journal at ");
    assert_contains(fx->stderr_text, path);
    assert_int_equal(access(path, F_OK), -1); /* not created */
}

static void test_corrupt_journal_is_a_runtime_error(void **state)
{
    fixture *fx = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/junk.db", fx->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++)
        fputc((i * 131 + 7) & 0xff, fp);
    fclose(fp);
    assert_int_equal(RUN(fx, "journal", "--db", path), 1);
    assert_contains(fx->stderr_text, "not an ensemble journal");
    assert_int_equal(fx->stdout_text[0], '\0');
}

static void test_bad_values_are_usage_errors(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--since", "yesterday"), 2);
    assert_contains(fx->stderr_text, "bad time 'yesterday'");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--until", "2024-02-30T00:00Z"), 2);
    assert_contains(fx->stderr_text, "bad time");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--actor", "ens:1/x"), 2);
    assert_contains(fx->stderr_text, "bad address 'ens:1/x'");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--kind", "crash,oops"), 2);
    assert_contains(fx->stderr_text, "bad kind list");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--limit", "-3"), 2);
    assert_contains(fx->stderr_text, "bad limit");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--count-by", "actor"), 2);
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--frobnicate"), 2);
    assert_contains(fx->stderr_text, "unknown option '--frobnicate'");
    assert_int_equal(RUN(fx, "journal", "--db"), 2);
    assert_contains(fx->stderr_text, "needs a value");
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "sys"), 2);
    assert_contains(fx->stderr_text, "either SYSTEM or --db");
    assert_int_equal(RUN(fx, "journal", "a/b"), 2);
    assert_contains(fx->stderr_text, "bad system name");
}

/* No byte a terminal would obey: ESC, BEL, DEL, C1 (as UTF-8: C2 80..9F). */
static void assert_no_controls(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        bool control = (*p < 0x20 && *p != '\n') || *p == 0x7f ||
                       (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0);
        if (control)
            fail_msg("a raw control byte 0x%02x at offset %td in:\n%s", *p, (const char *)p - text,
                     text);
    }
}

/* Journal text comes from the programs that reported it: escape sequences
 * in it (C0, DEL and C1 controls) are shown spelled out, in the table and
 * in JSON, and so are bad arguments. */
static void test_control_characters_are_shown_escaped(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "clisys", &w), 0);
    add(w, BASE_MS + 7000, ENS_EV_ERROR, 21, "evil\x1b[7m", "job", ENS_EIO, 0, 1,
        "\x1b]0;owned\x07 then \xc2\x9b"
        "2J and \x7f end");
    assert_int_equal(ens__jwriter_flush(w), 0);
    ens__jwriter_close(w);
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--actor", "ens:1/21"), 0);
    assert_contains(fx->stdout_text, "evil\\x1b[7m");
    assert_contains(fx->stdout_text, "\\x1b]0;owned\\x07 then \\xc2\\x9b2J and \\x7f end");
    assert_no_controls(fx->stdout_text);
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--actor", "ens:1/21", "--json"), 0);
    /* C0 controls are JSON escapes; DEL and C1, which a JSON writer passes
     * on raw, are spelled as on the terminal. */
    assert_contains(fx->stdout_text, "\"actor_type\": \"evil\\u001b[7m\"");
    assert_no_controls(fx->stdout_text);
    json_t *rows, *root = json_doc(fx->stdout_text, "journal", &rows);
    assert_int_equal(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0);
    assert_string_equal(json_text(row, "actor_type"), "evil\x1b[7m");
    assert_string_equal(json_text(row, "reason"),
                        "\x1b]0;owned\x07 then \\xc2\\x9b2J and \\x7f end");
    json_decref(root);
    assert_int_equal(RUN(fx, "journal", "--db", fx->db, "--kind", "\x1b[2J"), 2);
    assert_contains(fx->stderr_text, "bad kind list '\\x1b[2J'");
    assert_no_controls(fx->stderr_text);
    assert_int_equal(RUN(fx, "journal", "--db", "/nonexistent/\x1b[2J.db"), 1);
    assert_contains(fx->stderr_text, "/nonexistent/\\x1b[2J.db");
    assert_no_controls(fx->stderr_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_command_prints_usage_and_exits_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_every_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_prints_the_library_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_all_holds_every_commands_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_shows_rows_newest_first_aligned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_document_carries_every_field_escaped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_filters_select_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_by_kind_and_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_name_finds_the_default_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_journal_is_a_runtime_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_journal_is_a_runtime_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_are_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_characters_are_shown_escaped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

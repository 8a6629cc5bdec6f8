/*
 * tools/ens_system.c - the commands that talk to a running system:
 * `ens status`, `ens names`, `ens ask`, `ens tell` and `ens shutdown`.
 *
 * Each one attaches to the process-base system by name
 * (ens_system_connect) as one more outside endpoint, does its one thing and
 * lets go again: ens_system_close on a connected handle only detaches
 * (after sending what was queued), ens_system_stop ends the system.
 * Actors are given as an address, ens:NODE/ID, or by their global name
 * (ensemble/registry.h). The pieces `ens shell` reuses on the connection it
 * keeps are declared in tools/ens_tool.h.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ens_json.h"
#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"
#include "ensemble/msg.h"
#include "ensemble/registry.h"
#include "ensemble/status.h"
#include "ensemble/system.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define DETACH_TIMEOUT_MS  5000u

/* ---- help texts ---- */

#define SYSTEM_HELP                                                                                \
    "  SYSTEM              the name the system was started with (ens_system_opts.name);\n"         \
    "                      only systems of this user on this host are found\n"

#define ADDRESS_HELP                                                                               \
    "  ADDRESS-OR-NAME     an actor address, ens:NODE/ID (as `ens status` shows it),\n"            \
    "                      or the global NAME of an actor (as `ens names` shows it)\n"

static void help_status(FILE *out)
{
    fputs("usage: ens status SYSTEM [--tree] [--json] [--timeout MS]\n"
          "       ens status --convention NAME [--nats URL] [--json] [--timeout MS]\n"
          "\n"
          "Show the actors of a running system as a tree (parent -> children, drawn with\n"
          "tree lines), each with\n"
          "its type, address, global name (- if none), process id, restarts, messages\n"
          "handled, bytes waiting in its mailbox and resident memory (KiB). The first line\n"
          "names the admin process.\n"
          "\n" SYSTEM_HELP
          "  --json              a JSON document {\"actors\": [...]}: one object per actor\n"
          "                      with its parent address and depth\n"
          "  --tree              with --json: each actor's children nested in its\n"
          "                      \"children\" array (the terminal table is always a tree)\n"
          "  --timeout MS        wait at most MS milliseconds for the admin (default 5000)\n"
          "  --convention NAME   every member of convention NAME, each a tree (its gateway\n"
          "                      asks its admin); members that do not answer are named on\n"
          "                      stderr (exit status 1)\n"
          "  --nats URL          the convention's NATS server(s); default $ENSEMBLE_NATS_URL\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 success, 1 runtime error (no such system, no answer), 2 usage error\n",
          out);
}

static void help_names(FILE *out)
{
    fputs("usage: ens names SYSTEM [--json] [--timeout MS]\n"
          "       ens names --nats URL --convention NAME [--json] [--timeout MS]\n"
          "\n"
          "List the global names of a running system (ens_name_spawn, ens_name_register),\n"
          "sorted, each with the address, type and process id of the actor that has it.\n"
          "The first line says how many there are. With --nats or --convention: the\n"
          "names of a whole convention, read from the NATS server (ens names --nats\n"
          "URL --help).\n"
          "\n" SYSTEM_HELP
          "  --json              a JSON document {\"names\": [...]}, one object per name\n"
          "  --timeout MS        wait at most MS milliseconds for the admin (default 5000)\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 success, 1 runtime error (no such system, no answer), 2 usage error\n",
          out);
}

#define TYPE_HELP                                                                                  \
    "  --type TYPE JSON    send a value of the system's message type TYPE (see `ens types`)\n"     \
    "                      given as a JSON object of its fields, e.g. --type demo.Greeting\n"      \
    "                      '{\"count\":1,\"text\":\"hi\"}'; integers in range, strings (or\n"      \
    "                      null), numbers, objects for $(...), arrays for A(...), hex\n"           \
    "                      strings for bytes (B). A field missing, unknown or of the wrong\n"      \
    "                      kind is a usage error. The reply is printed as JSON.\n"

static void help_ask(FILE *out)
{
    fputs(
        "usage: ens ask SYSTEM ADDRESS-OR-NAME TEXT [--timeout MS]\n"
        "       ens ask SYSTEM ADDRESS-OR-NAME --type TYPE JSON [--timeout MS]\n"
        "\n"
        "Send TEXT as a string message (ens.String) to the actor at ADDRESS (or named\n"
        "NAME) and wait for its reply. A string reply is printed as it is; any other reply as "
        "its type name\n"
        "and size.\n"
        "\n" SYSTEM_HELP ADDRESS_HELP
        "  TEXT                the text to send (put -- before it if it starts with -)\n" TYPE_HELP
        "  --timeout MS        wait at most MS milliseconds for the reply (default 5000)\n"
        "  -h, --help          this text\n"
        "\n"
        "exit status: 0 a reply came, 1 runtime error (no such system, no actor at\n"
        "ADDRESS or by that NAME, no reply in time, the message was poisoned), 2 usage\n"
        "error\n",
        out);
}

static void help_tell(FILE *out)
{
    fputs(
        "usage: ens tell SYSTEM ADDRESS-OR-NAME TEXT\n"
        "       ens tell SYSTEM ADDRESS-OR-NAME --type TYPE JSON [--timeout MS]\n"
        "\n"
        "Send TEXT as a string message (ens.String) to the actor at ADDRESS (or named\n"
        "NAME) without waiting for an answer. A message to an address with no live actor\n"
        "or to a name nobody has becomes a dead letter (see `ens journal --kind\n"
        "dead_letter`); for a name nobody has, tell also says so and exits with 1.\n"
        "\n" SYSTEM_HELP ADDRESS_HELP
        "  TEXT                the text to send (put -- before it if it starts with -)\n" TYPE_HELP
        "  --timeout MS        with --type: wait at most MS milliseconds for the type list\n"
        "  -h, --help          this text\n"
        "\n"
        "exit status: 0 sent, 1 runtime error (no such system, no actor by that NAME,\n"
        "mailbox full), 2 usage error\n",
        out);
}

static void help_shutdown(FILE *out)
{
    fputs("usage: ens shutdown SYSTEM [--timeout MS]\n"
          "\n"
          "End a running system: every top-level actor (and with it its children) gets an\n"
          "exit request; actors still running after the timeout are killed.\n"
          "\n" SYSTEM_HELP
          "  --timeout MS        time given to the actors to finish (default 5000)\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 the system ended (also when stragglers had to be killed: a note\n"
          "says so), 1 runtime error (no such system), 2 usage error\n",
          out);
}

/* ---- shared parsing ---- */

typedef struct cmd_spec {
    const char *prog;     /* "ens ask" */
    void (*help)(FILE *); /* the command's --help */
    int npos;             /* positional arguments required */
    const char *pos_names;
    bool has_json;
    bool has_timeout;
    bool has_type;
    bool has_tree;
} cmd_spec;

typedef struct cmd_args {
    char *pos[3];
    bool json;
    bool tree;
    uint32_t timeout_ms;
    const char *type; /* --type */
} cmd_args;

static int usage_error(const cmd_spec *spec, const char *fmt, const char *arg)
{
    return ens_tool_usage_error(spec->prog, fmt, arg);
}

enum { OPT_JSON = 256, OPT_TIMEOUT, OPT_TYPE, OPT_TREE };

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"type", required_argument, NULL, OPT_TYPE},
    {"tree", no_argument, NULL, OPT_TREE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse argv for spec. Returns -1 to go on, else the exit code (help
 * printed: 0, usage error: 2). */
static int parse_args(const cmd_spec *spec, int argc, char **argv, cmd_args *a)
{
    memset(a, 0, sizeof(*a));
    a->timeout_ms = DEFAULT_TIMEOUT_MS;
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation */
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            spec->help(stdout);
            return 0;
        case OPT_JSON:
            if (!spec->has_json)
                return usage_error(spec, "unknown option '%s'", "--json");
            a->json = true;
            break;
        case OPT_TREE:
            if (!spec->has_tree)
                return usage_error(spec, "unknown option '%s'", "--tree");
            a->tree = true;
            break;
        case OPT_TIMEOUT: {
            if (!spec->has_timeout)
                return usage_error(spec, "unknown option '%s'", "--timeout");
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 1, UINT32_MAX, &v))
                return usage_error(spec, "bad timeout '%s' (milliseconds, at least 1)", optarg);
            a->timeout_ms = (uint32_t)v;
            break;
        }
        case OPT_TYPE:
            if (!spec->has_type)
                return usage_error(spec, "unknown option '%s'", "--type");
            a->type = optarg;
            break;
        case ':':
            return usage_error(spec, "option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error(spec, "unknown option '%s'", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < spec->npos)
        return usage_error(spec, "missing arguments: expected %s", spec->pos_names);
    if (n > spec->npos)
        return usage_error(spec, "unexpected argument '%s'", argv[optind + spec->npos]);
    for (int i = 0; i < spec->npos; i++)
        a->pos[i] = argv[optind + i];
    return -1;
}

int ens_tool_target(const char *prog, const char *text, ens_addr *addr, const char **name)
{
    *name = NULL;
    if (strchr(text, ':') == NULL && ens_name_valid(text)) {
        *name = text;
        return -1;
    }
    if (ens_addr_parse(text, addr) == 0 && !ens_addr_is_none(*addr))
        return -1;
    fprintf(stderr, "%s: ", prog);
    if (strchr(text, ':') != NULL)
        fprintf(stderr, "bad address '%s' (expected ens:NODE/ID, e.g. ens:1/16)\n",
                ens_tool_esc(text));
    else
        fprintf(stderr,
                "bad address or name '%s' (an address is ens:NODE/ID; a name is 1-%d of "
                "A-Z a-z 0-9 . _ - / starting with a letter, digit or _)\n",
                ens_tool_esc(text), ENS_NAME_MAX);
    fprintf(stderr, "(try '%s --help')\n", prog);
    return 2;
}

/* Attach to system `name`. Returns -1 with *out set, else the exit code. */
int ens_tool_connect(const char *prog, const char *name, ens_system **out)
{
    int rc = ens_system_connect(name, out);
    name = ens_tool_esc(name); /* for the messages below */
    switch (rc) {
    case 0:
        return -1;
    case ENS_ENOENT:
        fprintf(stderr, "%s: no running system called %s for this user; ", prog, name);
        ens_tool_print_running(stderr);
        return 1;
    case ENS_EINVAL:
        fprintf(stderr, "%s: bad system name '%s' (1-64 of A-Z a-z 0-9 . _ -)\n", prog, name);
        return 2;
    case ENS_EPEERCRED: {
        /* Never talked to: who it is comes from the kernel, not from it. */
        int uid = -1, pid = -1;
        ens_system_holder(name, &uid, &pid);
        if (uid >= 0)
            fprintf(stderr,
                    "%s: system %s: %s: uid %d (pid %d) answered, not this user (uid %d); "
                    "nothing was sent to it\n",
                    prog, name, ens_strerror(rc), uid, pid, (int)geteuid());
        else
            fprintf(stderr,
                    "%s: system %s: %s: a socket that is not a system's answered; nothing was "
                    "sent to it\n",
                    prog, name, ens_strerror(rc));
        return 1;
    }
    case ENS_ETOOMANY:
        fprintf(stderr,
                "%s: system %s refused the connection: %s (its max_connections are in use)\n", prog,
                name, ens_strerror(rc));
        return 1;
    case ENS_EAGAIN:
        fprintf(stderr,
                "%s: system %s refused the connection: it is short of file descriptors; try "
                "again later\n",
                prog, name);
        return 1;
    case ENS_ETIMEDOUT:
        fprintf(stderr, "%s: system %s did not answer (its admin may be stuck)\n", prog, name);
        return 1;
    default:
        fprintf(stderr, "%s: cannot connect to system %s: %s\n", prog, name, ens_strerror(rc));
        return 1;
    }
}

static int finish_output(const cmd_spec *spec, int status)
{
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "%s: cannot write the output: %s\n", spec->prog, strerror(errno));
        return 1;
    }
    return status;
}

/* ---- ens status ---- */

int ens_tool_status(int argc, char **argv)
{
    static const cmd_spec spec = {"ens status", help_status, 1, "SYSTEM", true, true, false, true};
    if (ens_tool_status_wide_wanted(argc, argv))
        return ens_tool_status_wide(argc, argv);
    cmd_args a;
    int rc = parse_args(&spec, argc, argv, &a);
    if (rc >= 0)
        return rc;
    ens_system *s = NULL;
    if ((rc = ens_tool_connect(spec.prog, a.pos[0], &s)) >= 0)
        return rc;
    int status =
        ens_tool_print_status(s, spec.prog, a.pos[0], a.json, a.tree, a.timeout_ms, NULL, NULL);
    ens_system_close(s, DETACH_TIMEOUT_MS);
    return finish_output(&spec, status);
}

/* ---- ens names ---- */

static const ens_status *sort_st; /* for by_name: qsort has no context */

static int by_name(const void *x, const void *y)
{
    const ens_actor_status *a = ens_status_at(sort_st, *(const size_t *)x);
    const ens_actor_status *b = ens_status_at(sort_st, *(const size_t *)y);
    return strcmp(a->name, b->name);
}

int ens_tool_print_names(ens_system *s, const char *prog, const char *system, bool json,
                         uint32_t timeout_ms, ens_tool_label_fn label, void *arg)
{
    int status = 0;
    ens_status *st = ens_tool_take_status(s, prog, system, timeout_ms, &status);
    if (st == NULL)
        return status;
    size_t n = 0, count = ens_status_count(st);
    size_t *idx = calloc(count + 1, sizeof(*idx));
    if (idx == NULL) {
        ens_status_free(st);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (a->name != NULL && a->name[0] != '\0')
            idx[n++] = i;
    }
    sort_st = st;
    qsort(idx, n, sizeof(*idx), by_name);
    if (!json)
        printf("system %s  names %zu\n", system, n);
    struct libscols_table *tb = NULL;
    bool ok = json || n > 0;
    if (ok) {
        tb = ens_tool_table("names", json);
        ok = tb != NULL;
        if (ok && label != NULL)
            ok = ens_tool_column(tb, "REG", "register", ENS_TOOL_TEXT, false, false) == 0;
        if (ok && json)
            ok = ens_tool_column(tb, "SYSTEM", "system", ENS_TOOL_TEXT, false, false) == 0;
        ok = ok && ens_tool_column(tb, "NAME", "name", ENS_TOOL_TEXT, false, false) == 0 &&
             ens_tool_column(tb, "ADDRESS", "address", ENS_TOOL_TEXT, false, false) == 0 &&
             ens_tool_column(tb, "TYPE", "type", ENS_TOOL_TEXT, false, false) == 0 &&
             ens_tool_column(tb, "PID", "pid", ENS_TOOL_NUMBER, true, false) == 0;
    }
    size_t c0 = (label != NULL ? 1u : 0u) + (json ? 1u : 0u); /* the column of NAME */
    for (size_t k = 0; ok && k < n; k++) {
        const ens_actor_status *a = ens_status_at(st, idx[k]);
        char addr[ENS_ADDR_STRLEN];
        ens_addr_format(a->addr, addr, sizeof(addr));
        struct libscols_line *ln = scols_table_new_line(tb, NULL);
        ok = ln != NULL;
        if (ok && label != NULL)
            ok = ens_tool_cell(tb, ln, 0, label(a->addr, arg)) == 0;
        if (ok && json)
            ok = ens_tool_cell(tb, ln, c0 - 1, system) == 0;
        ok = ok && ens_tool_cell(tb, ln, c0, a->name) == 0 &&
             ens_tool_cell(tb, ln, c0 + 1, addr) == 0 &&
             ens_tool_cell(tb, ln, c0 + 2, a->type) == 0 &&
             ens_tool_cell_num(tb, ln, c0 + 3, a->pid) == 0;
    }
    free(idx);
    ens_status_free(st);
    if (!ok && (json || n > 0)) {
        if (tb != NULL)
            scols_unref_table(tb);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    return tb != NULL ? ens_tool_table_print(tb, prog) : 0;
}

int ens_tool_names(int argc, char **argv)
{
    static const cmd_spec spec = {"ens names", help_names, 1, "SYSTEM", true, true, false, false};
    if (ens_tool_names_wide_wanted(argc, argv))
        return ens_tool_names_wide(argc, argv);
    cmd_args a;
    int rc = parse_args(&spec, argc, argv, &a);
    if (rc >= 0)
        return rc;
    ens_system *s = NULL;
    if ((rc = ens_tool_connect(spec.prog, a.pos[0], &s)) >= 0)
        return rc;
    int status = ens_tool_print_names(s, spec.prog, a.pos[0], a.json, a.timeout_ms, NULL, NULL);
    ens_system_close(s, DETACH_TIMEOUT_MS);
    return finish_output(&spec, status);
}

/* The common start of ask and tell: SYSTEM ADDRESS-OR-NAME TEXT parsed, the
 * target checked, the system connected. Returns -1 when all went well,
 * else the exit status to return (the message is printed). */
static int open_target(const cmd_spec *spec, int argc, char **argv, cmd_args *a, ens_addr *to,
                       const char **name, ens_system **s)
{
    int rc = parse_args(spec, argc, argv, a);
    if (rc >= 0)
        return rc;
    if ((rc = ens_tool_target(spec->prog, a->pos[1], to, name)) >= 0)
        return rc;
    return ens_tool_connect(spec->prog, a->pos[0], s);
}

/* Resolve `name` (if not NULL) into *to. Returns -1 to go on, else 1. */
static int resolve(ens_system *s, const char *prog, const char *system, const char *name,
                   ens_addr *to)
{
    if (name == NULL)
        return -1;
    int rc = ens_name_lookup(ens_system_ctx(s), name, to);
    if (rc == 0)
        return -1;
    if (rc == ENS_ENOENT)
        fprintf(stderr, "%s: no actor is named '%s' in system %s (see `ens names %s`)\n", prog,
                ens_tool_esc(name), system, system);
    else
        fprintf(stderr, "%s: cannot look up the name '%s': %s\n", prog, ens_tool_esc(name),
                ens_strerror(rc));
    return 1;
}

/* ---- ens ask ---- */

/* Ask `to` (already resolved) (mt, v) and print the reply: as JSON when tt
 * is given, else a string as it is. */
static int ask_send(ens_system *s, const char *prog, const char *system, const char *shown,
                    ens_addr to, const ens_msgtype *mt, const void *v, uint32_t timeout_ms,
                    ens_tool_typeset *tt)
{
    ens_msg *reply = NULL;
    int rc = ens_ask(ens_system_ctx(s), to, mt, v, timeout_ms, &reply);
    int status = 0;
    char *json = rc == 0 && tt != NULL ? ens_tool_types_reply_json(tt, reply) : NULL;
    if (rc == 0) {
        const ens_string_v *t = tt == NULL ? ens_msg_value(reply, &ens_msg_string) : NULL;
        if (json != NULL) {
            printf("%s\n", json);
        } else if (t != NULL) {
            printf("%s\n", ens_tool_esc(t->text));
        } else {
            const ens_msgtype *type = ens_msg_type(reply);
            if (type != NULL)
                printf("reply of type %s (%zu bytes)\n", type->name, ens_msg_size(reply));
            else
                printf("reply of unknown type id 0x%08" PRIx32 " (%zu bytes)\n",
                       ens_msg_type_id(reply), ens_msg_size(reply));
        }
    } else if (rc == ENS_ETIMEDOUT) {
        fprintf(stderr, "%s: no reply from %s within %" PRIu32 " ms\n", prog, ens_tool_esc(shown),
                timeout_ms);
        status = 1;
    } else if (rc == ENS_ENOACTOR) {
        fprintf(stderr, "%s: no live actor at %s in system %s\n", prog, ens_tool_esc(shown),
                system);
        status = 1;
    } else if (rc == ENS_EPOISON) {
        const ens_poison_v *p = reply != NULL ? ens_msg_value(reply, &ens_msg_poison) : NULL;
        const char *detail =
            p != NULL && p->detail != NULL && p->detail[0] != '\0' ? p->detail : "no detail given";
        fprintf(stderr, "%s: the message was poisoned: %s\n", prog, ens_tool_esc(detail));
        status = 1;
    } else if (rc == ENS_EFULL) {
        fprintf(stderr, "%s: the mailbox of %s is full; try again later\n", prog,
                ens_tool_esc(shown));
        status = 1;
    } else {
        fprintf(stderr, "%s: cannot ask %s: %s\n", prog, ens_tool_esc(shown), ens_strerror(rc));
        status = 1;
    }
    free(json);
    ens_msg_free(reply);
    return status;
}

int ens_tool_ask_run(ens_system *s, const char *prog, const char *system, const char *shown,
                     ens_addr to, const char *name, const char *text, uint32_t timeout_ms)
{
    int rc = resolve(s, prog, system, name, &to);
    if (rc >= 0)
        return rc;
    ens_string_v v = {(char *)text};
    return ask_send(s, prog, system, shown, to, &ens_msg_string, &v, timeout_ms, NULL);
}

/* A value of one of the system's types, made from JSON: what a typed
 * ask or tell sends, and the type set its reply is read by. */
typedef struct typed_value {
    ens_tool_typeset *tt;
    const ens_msgtype *mt;
    const ens_json_type *codec;
    void *value;
} typed_value;

/* Learn the system's types and encode json as a value of type_name.
 * Returns -1 with *tv set (typed_value_free), else the exit status
 * (printed). */
static int typed_value_make(ens_system *s, const char *prog, const char *system,
                            const char *type_name, const char *json, uint32_t timeout_ms,
                            typed_value *tv)
{
    *tv = (typed_value){0};
    int rc = ens_tool_types_load(s, prog, system, timeout_ms, &tv->tt);
    if (rc >= 0)
        return rc;
    rc = ens_tool_types_find(tv->tt, prog, system, type_name, &tv->mt, &tv->codec);
    if (rc < 0) {
        char err[320];
        if (ens_json_to_value(tv->codec, json, &tv->value, err, sizeof(err)) == 0)
            return -1;
        fprintf(stderr, "%s: bad value for type %s: %s\n(try '%s --help')\n", prog,
                ens_tool_esc(type_name), ens_tool_esc(err), prog);
        rc = 2;
    }
    ens_tool_types_free(tv->tt);
    tv->tt = NULL;
    return rc;
}

static void typed_value_free(typed_value *tv)
{
    ens_json_value_free(tv->codec, tv->value);
    ens_tool_types_free(tv->tt);
    *tv = (typed_value){0};
}

int ens_tool_ask_typed_run(ens_system *s, const char *prog, const char *system, const char *shown,
                           ens_addr to, const char *name, const char *type_name, const char *json,
                           uint32_t timeout_ms)
{
    typed_value tv;
    int rc = typed_value_make(s, prog, system, type_name, json, timeout_ms, &tv);
    if (rc >= 0)
        return rc;
    rc = resolve(s, prog, system, name, &to);
    if (rc < 0)
        rc = ask_send(s, prog, system, shown, to, tv.mt, tv.value, timeout_ms, tv.tt);
    typed_value_free(&tv);
    return rc;
}

int ens_tool_ask(int argc, char **argv)
{
    static const cmd_spec spec = {"ens ask", help_ask, 3,    "SYSTEM ADDRESS-OR-NAME TEXT",
                                  false,     true,     true, false};
    cmd_args a;
    ens_addr to = ENS_ADDR_NONE;
    const char *name = NULL;
    ens_system *s = NULL;
    int rc = open_target(&spec, argc, argv, &a, &to, &name, &s);
    if (rc >= 0)
        return rc;
    int status = a.type != NULL ? ens_tool_ask_typed_run(s, spec.prog, a.pos[0], a.pos[1], to, name,
                                                         a.type, a.pos[2], a.timeout_ms)
                                : ens_tool_ask_run(s, spec.prog, a.pos[0], a.pos[1], to, name,
                                                   a.pos[2], a.timeout_ms);
    ens_system_close(s, DETACH_TIMEOUT_MS);
    return finish_output(&spec, status);
}

/* ---- ens tell ---- */

static int tell_send(ens_system *s, const char *prog, const char *system, const char *shown,
                     ens_addr to, const char *name, const ens_msgtype *mt, const void *v)
{
    ens_ctx *out = ens_system_ctx(s);
    int rc;
    bool nobody = false;
    if (name != NULL) {
        /* A name nobody has: the send still records the dead letter. */
        nobody = ens_name_lookup(out, name, &to) == ENS_ENOENT;
        rc = nobody ? ens_name_send(out, name, mt, v) : ens_send(out, to, mt, v);
    } else {
        rc = ens_send(out, to, mt, v);
    }
    if (rc == ENS_EFULL) {
        fprintf(stderr, "%s: the mailbox of %s is full; nothing was sent\n", prog,
                ens_tool_esc(shown));
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: cannot send to %s: %s\n", prog, ens_tool_esc(shown), ens_strerror(rc));
        return 1;
    }
    if (nobody) {
        fprintf(stderr,
                "%s: no actor is named '%s' in system %s; the message became a dead letter\n", prog,
                ens_tool_esc(name), system);
        return 1;
    }
    return 0;
}

int ens_tool_tell_run(ens_system *s, const char *prog, const char *system, const char *shown,
                      ens_addr to, const char *name, const char *text)
{
    ens_string_v v = {(char *)text};
    return tell_send(s, prog, system, shown, to, name, &ens_msg_string, &v);
}

int ens_tool_tell_typed_run(ens_system *s, const char *prog, const char *system, const char *shown,
                            ens_addr to, const char *name, const char *type_name, const char *json,
                            uint32_t timeout_ms)
{
    typed_value tv;
    int rc = typed_value_make(s, prog, system, type_name, json, timeout_ms, &tv);
    if (rc >= 0)
        return rc;
    rc = tell_send(s, prog, system, shown, to, name, tv.mt, tv.value);
    typed_value_free(&tv);
    return rc;
}

int ens_tool_tell(int argc, char **argv)
{
    static const cmd_spec spec = {"ens tell", help_tell, 3,    "SYSTEM ADDRESS-OR-NAME TEXT",
                                  false,      true,      true, false};
    cmd_args a;
    ens_addr to = ENS_ADDR_NONE;
    const char *name = NULL;
    ens_system *s = NULL;
    int rc = open_target(&spec, argc, argv, &a, &to, &name, &s);
    if (rc >= 0)
        return rc;
    if (a.type == NULL && a.timeout_ms != DEFAULT_TIMEOUT_MS) {
        ens_system_close(s, DETACH_TIMEOUT_MS);
        return usage_error(&spec, "option '%s' goes with --type only", "--timeout");
    }
    int status = a.type != NULL
                     ? ens_tool_tell_typed_run(s, spec.prog, a.pos[0], a.pos[1], to, name, a.type,
                                               a.pos[2], a.timeout_ms)
                     : ens_tool_tell_run(s, spec.prog, a.pos[0], a.pos[1], to, name, a.pos[2]);
    /* Detaching sends what is still queued. */
    int drc = ens_system_close(s, DETACH_TIMEOUT_MS);
    if (status == 0 && drc < 0) {
        fprintf(stderr, "%s: the message may not have left: %s\n", spec.prog, ens_strerror(drc));
        status = 1;
    }
    return status;
}

/* ---- ens shutdown ---- */

int ens_tool_shutdown(int argc, char **argv)
{
    static const cmd_spec spec = {"ens shutdown", help_shutdown, 1,     "SYSTEM",
                                  false,          true,          false, false};
    cmd_args a;
    int rc = parse_args(&spec, argc, argv, &a);
    if (rc >= 0)
        return rc;
    ens_system *s = NULL;
    if ((rc = ens_tool_connect(spec.prog, a.pos[0], &s)) >= 0)
        return rc;
    rc = ens_system_stop(s, a.timeout_ms);
    if (rc == ENS_ETIMEDOUT)
        fprintf(stderr, "%s: note: actors still running after %" PRIu32 " ms were killed\n",
                spec.prog, a.timeout_ms);
    else if (rc < 0) {
        fprintf(stderr, "%s: cannot stop %s: %s\n", spec.prog, a.pos[0], ens_strerror(rc));
        return 1;
    }
    return 0;
}

/*
 * tools/ens_shell.c - `ens shell`: the commands of `ens` at an interactive
 * prompt, on one connection to a running system that stays open between
 * commands, plus address registers (Thespian's shell): every address that
 * `status`, `names` or `lookup` shows is kept in a numbered register, and
 * $N stands for it wherever a command takes an actor.
 *
 * Line editing and history come from libedit (its readline interface) when
 * the tool is built with it and standard input is a terminal; otherwise
 * lines are read plainly, without a prompt, so a script can be piped in.
 * The shell's exit status is that of the last command (0 after `quit`
 * without one), so a piped script can be checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef ENS_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "ens_complete.h"
#include "ens_tool.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"
#include "ensemble/system.h"

#define PROG       "ens shell"
#define MAX_WORDS  32
#define MAX_REGS   4096
#define DEFAULT_MS 5000u

typedef struct shell {
    ens_system *sys;
    char name[80]; /* the connected system's name */
    ens_addr regs[MAX_REGS];
    char *reg_sys[MAX_REGS]; /* the system each register's address is in */
    size_t n_regs;
    uint32_t timeout_ms;
    bool interactive;
    bool quit;
    int last;           /* exit status of the last command */
    char history[4096]; /* the history file, "" for none */
} shell;

static void help(FILE *out)
{
    fputs("usage: ens shell [SYSTEM]\n"
          "\n"
          "An interactive shell on a running system (connected to SYSTEM if given). Lines\n"
          "are edited with libedit when standard input is a terminal; otherwise they are\n"
          "read as a script, and the exit status is that of the last command.\n"
          "\n"
          "commands:\n"
          "  connect SYSTEM          attach to SYSTEM (and let go of the current one)\n"
          "  disconnect              let go of the current system\n"
          "  status [--json]         the actors as a tree; each address gets a register\n"
          "  names [--json]          the global names; each address gets a register\n"
          "  lookup NAME             the address of NAME, kept in a register\n"
          "  ask TARGET TEXT         send TEXT and print the reply\n"
          "  tell TARGET TEXT        send TEXT without waiting\n"
          "  types [--json]          the message types of the system\n"
          "  regs                    list the address registers\n"
          "  set $N TARGET           keep TARGET's address in register N\n"
          "  timeout [MS]            show or set the timeout of ask and status (5000)\n"
          "  journal [OPTIONS]       the failure journal of the system (see ens journal --help)\n"
          "  shutdown [--timeout MS] end the connected system\n"
          "  help                    this text\n"
          "  quit, exit              leave (so does end of input)\n"
          "\n"
          "Tab completes a command, the SYSTEM of connect (the running systems) and a\n"
          "TARGET of ask, tell, lookup and set (the global names of the system in use).\n"
          "\n"
          "TARGET is an address (ens:NODE/ID), a global NAME or a register ($0, $1, ...).\n"
          "ask and tell take --type T before TARGET: TEXT is then a value of the system's\n"
          "type T written as JSON (see `types` and ens ask --help); the reply is JSON.\n"
          "TEXT is the rest of the line; surrounding double quotes are removed.\n"
          "\n"
          "exit status: that of the last command (0 success, 1 runtime error, 2 usage\n"
          "error); 2 for a bad command line of ens shell itself\n",
          out);
}

/* ---- registers ---- */

static const char *label(ens_addr a, void *arg)
{
    shell *sh = arg;
    static char text[16];
    size_t i = 0;
    while (i < sh->n_regs &&
           !(ens_addr_equal(sh->regs[i], a) && strcmp(sh->reg_sys[i], sh->name) == 0))
        i++;
    if (i == sh->n_regs) {
        if (sh->n_regs == MAX_REGS || (sh->reg_sys[i] = strdup(sh->name)) == NULL)
            return NULL;
        sh->regs[sh->n_regs++] = a;
    }
    snprintf(text, sizeof(text), "$%zu", i);
    return text;
}

/* Parse "$N". Returns 1 with *out, 0 if text is no register, -1 (printed)
 * for an empty one. */
static int reg_get(shell *sh, const char *text, ens_addr *out)
{
    if (text[0] != '$')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(text + 1, &end, 10);
    if (text[1] < '0' || text[1] > '9' || *end != '\0' || errno != 0 || n >= sh->n_regs) {
        fprintf(stderr, "%s: no register %s (see `regs`)\n", PROG, ens_tool_esc(text));
        return -1;
    }
    if (strcmp(sh->reg_sys[n], sh->name) != 0) {
        fprintf(stderr, "%s: register %s is an address in system %s (`connect %s` first)\n", PROG,
                ens_tool_esc(text), ens_tool_esc(sh->reg_sys[n]), ens_tool_esc(sh->reg_sys[n]));
        return -1;
    }
    *out = sh->regs[n];
    return 1;
}

/* ---- command line ---- */

/* Split line (modified in place) into words at blanks; "..." groups. */
static int split(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (*p == '"') {
            words[n++] = ++p;
            while (*p != '\0' && *p != '"')
                p++;
        } else {
            words[n++] = p;
            while (*p != '\0' && *p != ' ' && *p != '\t')
                p++;
        }
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return n;
}

/* The text after the first `skip` words of line: trimmed, quotes removed. */
static char *rest_after(char *line, int skip)
{
    char *p = line;
    for (int i = 0; i < skip; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        p[--len] = '\0';
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p[len - 1] = '\0';
        p++;
    }
    return p;
}

static bool need_system(shell *sh)
{
    if (sh->sys != NULL)
        return true;
    fprintf(stderr, "%s: not connected to a system (use `connect SYSTEM`)\n", PROG);
    return false;
}

static void disconnect(shell *sh)
{
    if (sh->sys != NULL)
        ens_system_close(sh->sys, 5000); /* only detaches */
    sh->sys = NULL;
    sh->name[0] = '\0';
    /* The registers stay: each knows its system, and keeps its number
     * until the shell exits. */
}

static int do_connect(shell *sh, const char *name)
{
    ens_system *s = NULL;
    int rc = ens_tool_connect(PROG, name, &s);
    if (rc >= 0)
        return rc;
    disconnect(sh);
    sh->sys = s;
    snprintf(sh->name, sizeof(sh->name), "%s", name);
    if (sh->interactive)
        printf("connected to %s\n", name);
    return 0;
}

/* Resolve TARGET for ask/tell: a register, an address or a name. Returns
 * -1 to go on, else the exit status. */
static int target(shell *sh, const char *text, ens_addr *to, const char **name)
{
    *name = NULL;
    int r = reg_get(sh, text, to);
    if (r != 0)
        return r > 0 ? -1 : 1;
    return ens_tool_target(PROG, text, to, name);
}

static int bad_usage(const char *what)
{
    fprintf(stderr, "%s: usage: %s (try `help`)\n", PROG, what);
    return 2;
}

/* Parse the one option of status and names. */
static int json_flag(char **w, int n, const char *usage, bool *json)
{
    *json = false;
    for (int i = 1; i < n; i++) {
        if (strcmp(w[i], "--json") != 0)
            return bad_usage(usage);
        *json = true;
    }
    return -1;
}

static int do_lookup(shell *sh, const char *name)
{
    ens_addr a;
    int rc = ens_name_lookup(ens_system_ctx(sh->sys), name, &a);
    if (rc == ENS_ENOENT) {
        fprintf(stderr, "%s: no actor is named '%s' in system %s\n", PROG, ens_tool_esc(name),
                sh->name);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: cannot look up '%s': %s\n", PROG, ens_tool_esc(name),
                ens_strerror(rc));
        return rc == ENS_EINVAL ? 2 : 1;
    }
    char text[ENS_ADDR_STRLEN];
    ens_addr_format(a, text, sizeof(text));
    const char *reg = label(a, sh);
    printf("%s = %s (%s)\n", reg != NULL ? reg : "-", text, ens_tool_esc(name));
    return 0;
}

static int do_set(shell *sh, char **w, int n)
{
    if (n != 3 || w[1][0] != '$')
        return bad_usage("set $N TARGET");
    char *end = NULL;
    unsigned long k = strtoul(w[1] + 1, &end, 10);
    if (w[1][1] < '0' || w[1][1] > '9' || *end != '\0' || k > sh->n_regs || k >= MAX_REGS)
        return bad_usage("set $N TARGET (N at most the number of registers)");
    ens_addr a = ENS_ADDR_NONE;
    const char *name = NULL;
    int rc = target(sh, w[2], &a, &name);
    if (rc >= 0)
        return rc;
    if (name != NULL) {
        if (!need_system(sh))
            return 1;
        rc = ens_name_lookup(ens_system_ctx(sh->sys), name, &a);
        if (rc < 0) {
            fprintf(stderr, "%s: no actor is named '%s'%s%s\n", PROG, ens_tool_esc(name),
                    sh->sys != NULL ? " in system " : "", sh->name);
            return 1;
        }
    }
    char *in = strdup(sh->name);
    if (in == NULL)
        return 1;
    if (k < sh->n_regs)
        free(sh->reg_sys[k]);
    sh->regs[k] = a;
    sh->reg_sys[k] = in;
    if (k == sh->n_regs)
        sh->n_regs++;
    return 0;
}

static int do_regs(shell *sh)
{
    for (size_t i = 0; i < sh->n_regs; i++) {
        char text[ENS_ADDR_STRLEN];
        ens_addr_format(sh->regs[i], text, sizeof(text));
        if (strcmp(sh->reg_sys[i], sh->name) == 0)
            printf("$%zu = %s\n", i, text);
        else
            printf("$%zu = %s (system %s)\n", i, text, ens_tool_esc(sh->reg_sys[i]));
    }
    return 0;
}

static int do_journal(shell *sh, char **w, int n)
{
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    bool has_db = false;
    argv[argc++] = "journal";
    for (int i = 1; i < n; i++) {
        has_db = has_db || strcmp(w[i], "--db") == 0 || strncmp(w[i], "--db=", 5) == 0 ||
                 strcmp(w[i], "--help") == 0 || strcmp(w[i], "-h") == 0;
        argv[argc++] = w[i];
    }
    if (!has_db) {
        if (sh->sys == NULL) {
            fprintf(stderr, "%s: not connected: give --db PATH, or `connect SYSTEM` first\n", PROG);
            return 1;
        }
        argv[argc++] = sh->name;
    }
    argv[argc] = NULL;
    fflush(stdout);
    return ens_tool_journal(argc, argv);
}

static int do_shutdown(shell *sh, char **w, int n)
{
    uint32_t ms = DEFAULT_MS;
    if (n == 3 && strcmp(w[1], "--timeout") == 0) {
        char *end = NULL;
        unsigned long v = strtoul(w[2], &end, 10);
        if (w[2][0] < '0' || w[2][0] > '9' || *end != '\0' || v == 0 || v > UINT32_MAX)
            return bad_usage("shutdown [--timeout MS]");
        ms = (uint32_t)v;
    } else if (n != 1) {
        return bad_usage("shutdown [--timeout MS]");
    }
    if (!need_system(sh))
        return 1;
    int rc = ens_system_stop(sh->sys, ms);
    sh->sys = NULL;
    printf("system %s ended\n", sh->name);
    if (rc == ENS_ETIMEDOUT)
        fprintf(stderr, "%s: note: actors still running after %" PRIu32 " ms were killed\n", PROG,
                ms);
    disconnect(sh);
    return rc < 0 && rc != ENS_ETIMEDOUT ? 1 : 0;
}

/* Run one line. Returns the command's exit status. */
static int run_line(shell *sh, char *line)
{
    char *copy = strdup(line);
    if (copy == NULL)
        return 1;
    char *w[MAX_WORDS];
    int n = split(line, w, MAX_WORDS);
    int rc = 0;
    if (n == 0 || w[0][0] == '#') {
        free(copy);
        return sh->last;
    }
    const char *cmd = w[0];
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        sh->quit = true;
        rc = sh->last;
    } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0) {
        help(stdout);
    } else if (strcmp(cmd, "connect") == 0) {
        rc = n == 2 ? do_connect(sh, w[1]) : bad_usage("connect SYSTEM");
    } else if (strcmp(cmd, "disconnect") == 0) {
        disconnect(sh);
    } else if (strcmp(cmd, "regs") == 0) {
        rc = do_regs(sh);
    } else if (strcmp(cmd, "set") == 0) {
        rc = do_set(sh, w, n);
    } else if (strcmp(cmd, "timeout") == 0) {
        char *end = NULL;
        unsigned long v = n == 2 ? strtoul(w[1], &end, 10) : 0;
        if (n == 1)
            printf("%" PRIu32 " ms\n", sh->timeout_ms);
        else if (n != 2 || w[1][0] < '0' || w[1][0] > '9' || *end != '\0' || v == 0 ||
                 v > UINT32_MAX)
            rc = bad_usage("timeout [MS]");
        else
            sh->timeout_ms = (uint32_t)v;
    } else if (strcmp(cmd, "journal") == 0) {
        rc = do_journal(sh, w, n);
    } else if (strcmp(cmd, "types") == 0) {
        bool json = false;
        rc = json_flag(w, n, "types [--json]", &json);
        if (rc < 0 && !need_system(sh))
            rc = 1;
        if (rc < 0)
            rc = ens_tool_print_types(sh->sys, PROG, sh->name, json, sh->timeout_ms);
    } else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "names") == 0) {
        bool json = false;
        bool status = cmd[0] == 's';
        rc = json_flag(w, n, status ? "status [--json]" : "names [--json]", &json);
        if (rc < 0 && !need_system(sh))
            rc = 1;
        if (rc < 0 && status)
            rc = ens_tool_print_status(sh->sys, PROG, sh->name, json, false, sh->timeout_ms, label,
                                       sh);
        else if (rc < 0)
            rc = ens_tool_print_names(sh->sys, PROG, sh->name, json, sh->timeout_ms, label, sh);
    } else if (strcmp(cmd, "lookup") == 0) {
        if (n != 2)
            rc = bad_usage("lookup NAME");
        else
            rc = need_system(sh) ? do_lookup(sh, w[1]) : 1;
    } else if (strcmp(cmd, "ask") == 0 || strcmp(cmd, "tell") == 0) {
        bool ask = cmd[0] == 'a';
        /* ask [--type T] TARGET TEXT: with a type, TEXT is the value as JSON. */
        const char *type = n >= 3 && strcmp(w[1], "--type") == 0 ? w[2] : NULL;
        int at = type != NULL ? 3 : 1; /* the word that names the target */
        ens_addr to = ENS_ADDR_NONE;
        const char *name = NULL;
        char *text = rest_after(copy, at + 1);
        if (n < at + 2)
            rc = bad_usage(ask ? "ask [--type T] TARGET TEXT" : "tell [--type T] TARGET TEXT");
        else if ((rc = target(sh, w[at], &to, &name)) < 0 && !need_system(sh))
            rc = 1;
        if (rc < 0 && type != NULL)
            rc = (ask ? ens_tool_ask_typed_run : ens_tool_tell_typed_run)(
                sh->sys, PROG, sh->name, w[at], to, name, type, text, sh->timeout_ms);
        else if (rc < 0 && ask)
            rc = ens_tool_ask_run(sh->sys, PROG, sh->name, w[at], to, name, text, sh->timeout_ms);
        else if (rc < 0)
            rc = ens_tool_tell_run(sh->sys, PROG, sh->name, w[at], to, name, text);
    } else if (strcmp(cmd, "shutdown") == 0) {
        rc = do_shutdown(sh, w, n);
    } else {
        fprintf(stderr, "%s: unknown command '%s' (try `help`)\n", PROG, ens_tool_esc(cmd));
        rc = 2;
    }
    free(copy);
    fflush(stdout);
    return rc;
}

/* ---- history ---- */

#define HISTORY_MAX 1000 /* lines kept */

/* $XDG_STATE_HOME/ensemble/shell_history (else under ~/.local/state),
 * its directory made (0700). false when there is no place for it. */
static bool history_path(char *out, size_t len)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(dir, sizeof(dir), "%s", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(dir, sizeof(dir), "%s/.local/state", home);
    else
        return false;
    if (n < 0 || (size_t)n + sizeof("/ensemble/shell_history") > sizeof(dir))
        return false;
    /* Each level: made if missing (only the last two are ours). */
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return false;
            *p = c;
            if (c == '\0')
                break;
        }
    }
    strcat(dir, "/ensemble");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return false;
    n = snprintf(out, len, "%s/shell_history", dir);
    return n > 0 && (size_t)n < len;
}

static void history_load(shell *sh)
{
#ifdef ENS_HAVE_LIBEDIT
    using_history();
    stifle_history(HISTORY_MAX);
    if (history_path(sh->history, sizeof(sh->history)) && access(sh->history, F_OK) == 0)
        read_history(sh->history);
#else
    (void)sh;
#endif
}

static void history_save(shell *sh)
{
#ifdef ENS_HAVE_LIBEDIT
    if (sh->history[0] == '\0')
        return;
    /* Made 0600 before anything is written: what was typed is the user's. */
    int fd = open(sh->history, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "%s: cannot save the history in %s: %s\n", PROG, ens_tool_esc(sh->history),
                strerror(errno));
        return;
    }
    close(fd);
    if (write_history(sh->history) != 0)
        fprintf(stderr, "%s: cannot save the history in %s\n", PROG, ens_tool_esc(sh->history));
#else
    (void)sh;
#endif
}

/* ---- Tab ---- */

#ifdef ENS_HAVE_LIBEDIT
#define COMPLETE_MS 1000u /* a status for the names: not longer at a keystroke */

static shell *completing; /* the shell Tab completes for */
static char **candidates; /* ens_tool_complete's, for next_candidate */
static size_t next_cand;

/* libedit's generator: the candidates one by one (each malloc'd for it). */
static char *next_candidate(const char *text, int state)
{
    (void)text;
    if (state == 0)
        next_cand = 0;
    if (candidates == NULL || candidates[next_cand] == NULL)
        return NULL;
    return strdup(candidates[next_cand++]);
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never file names */
    ens_tool_complete_free(candidates);
    candidates =
        ens_tool_complete(rl_line_buffer, (size_t)start, text, completing->sys, COMPLETE_MS);
    return candidates != NULL ? rl_completion_matches(text, next_candidate) : NULL;
}
#endif

static void completion_start(shell *sh)
{
#ifdef ENS_HAVE_LIBEDIT
    completing = sh;
    rl_readline_name = "ens";
    rl_attempted_completion_function = complete;
#else
    (void)sh;
#endif
}

static void completion_end(void)
{
#ifdef ENS_HAVE_LIBEDIT
    ens_tool_complete_free(candidates);
    candidates = NULL;
    completing = NULL;
#endif
}

/* The next line (owned by the caller), or NULL at end of input. */
static char *read_line(shell *sh)
{
#ifdef ENS_HAVE_LIBEDIT
    if (sh->interactive) {
        char prompt[96];
        snprintf(prompt, sizeof(prompt), "ens%s%s> ", sh->sys != NULL ? " " : "", sh->name);
        return readline(prompt);
    }
#endif
    if (sh->interactive) {
        printf("ens%s%s> ", sh->sys != NULL ? " " : "", sh->name);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, stdin);
    if (len < 0) {
        free(line);
        return NULL;
    }
    if (len > 0 && line[len - 1] == '\n')
        line[len - 1] = '\0';
    return line;
}

int ens_tool_shell(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        help(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "%s: %s '%s'\n(try '%s --help')\n", PROG,
                argc > 2 ? "unexpected argument" : "unknown option",
                ens_tool_esc(argv[argc > 2 ? 2 : 1]), PROG);
        return 2;
    }
    shell *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return 1;
    sh->timeout_ms = DEFAULT_MS;
    sh->interactive = isatty(0) && isatty(1);
    if (argc == 2) {
        int rc = do_connect(sh, argv[1]);
        if (rc > 0) {
            free(sh);
            return rc;
        }
    } else if (sh->interactive) {
        printf("ens shell: type `help` for commands, `connect SYSTEM` to begin\n");
    }
    history_load(sh);
    completion_start(sh);
    while (!sh->quit) {
        char *line = read_line(sh);
        if (line == NULL)
            break;
#ifdef ENS_HAVE_LIBEDIT
        if (line[strspn(line, " \t")] != '\0')
            add_history(line);
#endif
        sh->last = run_line(sh, line);
        free(line);
    }
    if (sh->interactive && !sh->quit)
        putchar('\n');
    history_save(sh);
    completion_end();
    int last = sh->last;
    disconnect(sh);
    for (size_t i = 0; i < sh->n_regs; i++)
        free(sh->reg_sys[i]);
    free(sh);
    return last;
}

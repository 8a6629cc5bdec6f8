/*
 * tools/ens.c - the `ens` command: entry point and subcommand dispatch.
 *
 * Each subcommand lives in its own tools/ens_<name>.c and is one entry of
 * the table below: `ens <command> [options]`, `ens <command> --help`.
 * Exit codes everywhere: 0 success, 1 runtime error (no such
 * system, missing journal, corrupt file), 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "ens_tool.h" /* the subcommands (tools/ens_journal.c, ens_system.c, ens_shell.c) */

typedef struct ens_tool_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} ens_tool_cmd;

static const ens_tool_cmd commands[] = {
    {"list", ens_tool_list, "list the running systems of this user"},
    {"status", ens_tool_status, "show the actors of a running system as a tree"},
    {"names", ens_tool_names, "list the global names of a running system"},
    {"ask", ens_tool_ask, "send text to an actor and print its reply"},
    {"tell", ens_tool_tell, "send text to an actor without waiting"},
    {"types", ens_tool_types, "list the message types of a running system"},
    {"shutdown", ens_tool_shutdown, "end a running system"},
    {"journal", ens_tool_journal, "query the failure journal of a system"},
    {"log", ens_tool_log, "print (and follow) the log of a named system"},
    {"members", ens_tool_members, "list the members of a convention (on NATS)"},
    {"capability", ens_tool_capability, "set or remove a capability of a running system"},
    {"shell", ens_tool_shell, "an interactive shell for all of the above"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fputs("usage: ens <command> [options]\n"
          "       ens <command> --help\n"
          "\n"
          "ens talks to ensemble actor systems and reads what they recorded.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "exit status: 0 success, 1 runtime error, 2 usage error\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        /* `ens help journal` is `ens journal --help`. */
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *help_argv[] = {argv[2], "--help", NULL};
                return commands[i].run(2, help_argv);
            }
        }
        name = argv[2];
    } else {
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(name, commands[i].name) == 0)
                return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ens: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}

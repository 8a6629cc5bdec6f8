/*
 * tools/ens_capability.c - `ens capability set|unset`: change a capability
 * of a running system of this user (ens_capability_set, ensemble/
 * convention.h), connected by its name as every other subcommand is. The
 * system puts its member record again at once, and asks its actors that no
 * longer fit to exit.
 */
#include <stdio.h>
#include <string.h>

#include "ens_tool.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

#define DETACH_TIMEOUT_MS 5000u

static void help(FILE *out)
{
    fputs("usage: ens capability set SYSTEM KEY VALUE\n"
          "       ens capability unset SYSTEM KEY\n"
          "\n"
          "Set or remove capability KEY of a running system in a convention. The other\n"
          "members see it joined again with the new capabilities; its actors whose\n"
          "requirements no longer hold are asked to exit. Keys are 1-64 of [A-Za-z0-9._-],\n"
          "not starting with \"ens.\" (the built-ins); values at most 1024 bytes.\n"
          "\n"
          "  SYSTEM              the name the system was started with\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 done, 1 runtime error (no such system, no convention, refused),\n"
          "2 usage error\n",
          out);
}

int ens_tool_capability(int argc, char **argv)
{
    const char *prog = "ens capability";
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
    bool set = argc == 5 && strcmp(argv[1], "set") == 0;
    bool unset = argc == 4 && strcmp(argv[1], "unset") == 0;
    if (!set && !unset) {
        fprintf(stderr, "%s: expected `set SYSTEM KEY VALUE` or `unset SYSTEM KEY`\n\n", prog);
        help(stderr);
        return 2;
    }
    const char *name = argv[2], *key = argv[3], *value = set ? argv[4] : NULL;
    ens_system *s = NULL;
    int rc = ens_tool_connect(prog, name, &s);
    if (rc >= 0)
        return rc;
    rc = ens_capability_set(ens_system_ctx(s), key, value);
    ens_system_close(s, DETACH_TIMEOUT_MS);
    if (rc == ENS_ENOTSUP) {
        fprintf(stderr, "%s: system %s is in no convention: it has no capabilities to change\n",
                prog, ens_tool_esc(name));
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s on %s: %s\n", prog, set ? "cannot set" : "cannot remove",
                ens_tool_esc(key), ens_tool_esc(name), ens_strerror(rc));
        return 1;
    }
    return 0;
}

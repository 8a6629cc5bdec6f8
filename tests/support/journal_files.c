/*
 * tests/support/journal_files.c - the files of a journal a test made (see
 * journal_files.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "support/journal_files.h"

void test_journal_remove(const char *db)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", db, sides[i]);
        unlink(path);
    }
}

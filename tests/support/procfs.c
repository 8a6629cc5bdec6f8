/*
 * tests/support/procfs.c - what tests read about processes from /proc.
 */
#include "procfs.h"

#include <stdio.h>

long test_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *fp = fopen(path, "r");
    long kib = -1;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    }
    if (fp != NULL)
        fclose(fp);
    return kib;
}

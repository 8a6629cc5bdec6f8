/*
 * tests/support/procfs.c - what tests read about processes from /proc.
 */
#include "procfs.h"

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

int test_ppid_of(int pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return -1;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *q = strrchr(buf, ')'); /* the command name may hold spaces */
    int ppid = -1;
    if (q == NULL || sscanf(q + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

bool test_comm_is(int pid, const char *prefix)
{
    char p[64], comm[32] = "";
    snprintf(p, sizeof(p), "/proc/%d/comm", pid);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, prefix, strlen(prefix)) == 0;
    fclose(f);
    return ok;
}

int test_children_named(int parent, const char *prefix, int *pids, int max)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || test_ppid_of((int)pid) != parent ||
            !test_comm_is((int)pid, prefix))
            continue;
        if (n < max)
            pids[n] = (int)pid;
        n++;
    }
    closedir(d);
    return n;
}

bool test_gone_within(int pid, int ms)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return true; /* already gone */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int k = poll(&p, 1, ms);
    close(fd);
    return k == 1;
}

bool test_cmdline_of(int pid, char *buf, size_t len)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
    FILE *f = fopen(p, "re");
    if (f == NULL || len == 0) {
        if (f != NULL)
            fclose(f);
        return false;
    }
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\0') /* the padding of a rewritten title */
        n--;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\0')
            buf[i] = ' ';
    }
    buf[n] = '\0';
    return n > 0;
}

int test_fds_linked(int pid, const char *prefix)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", pid);
    DIR *d = opendir(p);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof(link), "%s/%s", p, e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len < 0)
            continue; /* closed meanwhile */
        target[len] = '\0';
        n += strncmp(target, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return n;
}

bool test_maps_name(int pid, const char *text)
{
    char p[64], line[512];
    snprintf(p, sizeof(p), "/proc/%d/maps", pid);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

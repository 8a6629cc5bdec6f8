/*
 * tests/support/procfs.h - what tests read about processes from /proc.
 */
#ifndef ENS_TESTS_PROCFS_H
#define ENS_TESTS_PROCFS_H

#include <stdbool.h>
#include <stddef.h>

/* VmRSS of process pid in KiB, from /proc/PID/status; -1 if it cannot be
 * read (the process is gone). */
long test_rss_kib(int pid);

/* The parent pid of process pid from /proc/PID/stat, or -1 (gone). */
int test_ppid_of(int pid);

/* True if process pid's name (/proc/PID/comm, 15 characters at most)
 * starts with prefix. */
bool test_comm_is(int pid, const char *prefix);

/* The children of process parent whose name starts with prefix: up to max
 * of their pids in pids (may be NULL when max is 0); returns how many
 * there are. */
int test_children_named(int parent, const char *prefix, int *pids, int max);

/* True if process pid is gone (or a zombie) within ms milliseconds: waits
 * on a pidfd, no polling. */
bool test_gone_within(int pid, int ms);

/* Process pid's command line as ps shows it (arguments joined by spaces)
 * in buf (len bytes, NUL-terminated); false if it cannot be read. */
bool test_cmdline_of(int pid, char *buf, size_t len);

/* How many descriptors process pid holds whose link in /proc/PID/fd starts
 * with prefix ("socket:", "/memfd:name", "" for all); -1 if they cannot be
 * listed (gone). */
int test_fds_linked(int pid, const char *prefix);

/* True if one of process pid's memory mappings names `text` (in
 * /proc/PID/maps: a file, or a memfd's name). */
bool test_maps_name(int pid, const char *text);

#endif

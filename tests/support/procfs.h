/*
 * tests/support/procfs.h - what tests read about processes from /proc.
 */
#ifndef ENS_TESTS_PROCFS_H
#define ENS_TESTS_PROCFS_H

/* VmRSS of process pid in KiB, from /proc/PID/status; -1 if it cannot be
 * read (the process is gone). */
long test_rss_kib(int pid);

#endif

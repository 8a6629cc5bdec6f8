/*
 * bench/bench_raw.h - the plain-C baselines ens-bench measures in the same
 * invocation as ensemble, so every ensemble figure has a ratio to what the
 * machine allows right now. No ensemble code runs in these (the codec
 * baseline lives in ens_bench.c). Every child process is reaped before a
 * function returns, also on error.
 */
#ifndef ENS_BENCH_RAW_H
#define ENS_BENCH_RAW_H

#include <stddef.h>
#include <stdint.h>

/* Two forked processes bounce `len` bytes (one frame) n times over an
 * AF_UNIX stream socketpair, blocking write() then read(). Returns the
 * microseconds per round trip, or < 0 on failure. */
double raw_pingpong_us(const uint8_t *frame, size_t len, long n);

/* raw_pingpong_us with the parent pinned to cpu_a and the child to cpu_b
 * (sched_setaffinity; < 0: not pinned; the parent's mask is restored), and
 * each side looking for the next frame without sleeping for up to spin_us
 * before it blocks (0: no spin). */
double raw_pingpong_pinned_us(const uint8_t *frame, size_t len, long n, int cpu_a, int cpu_b,
                              unsigned spin_us);

/* One process writes n copies of frame to a forked reader over an AF_UNIX
 * stream socketpair, one write() per frame (batch = 0) or coalesced into
 * 64 KiB writes (batch = 1); the reader acknowledges when it has every
 * byte. Returns messages per second, or < 0 on failure. */
double raw_stream_msgs(const uint8_t *frame, size_t len, long n, int batch);

/* fork + _exit(0) + waitpid, n times. Returns processes per second. */
double raw_spawn_rate(long n);

/* The bytes of the one message a raw_reply_spawn_rate child answers. */
#define RAW_REPLY_BYTES 64

/* n children started as an actor is, each answering one message: per child
 * an AF_UNIX socketpair and a fork; the child closes every other
 * descriptor, runs a libuv loop on its end (and on a quit pipe shared by
 * all), echoes one RAW_REPLY_BYTES message and stays alive. One at a time
 * (pipelined = 0: the reply before the next fork) or pipelined (fork all,
 * each sent its message at once, then the n replies collected). Timed until
 * the last reply; the children end (quit pipe closed) and are reaped after.
 * Returns children per second, or < 0 on failure. */
double raw_reply_spawn_rate(long n, int pipelined);

/* count forked children each running an idle libuv loop (a poll on a pipe):
 * mean PSS and RSS per child in KiB. Returns 0 or < 0 on failure. */
int raw_idle_memory(int count, double *pss_kib, double *rss_kib);

/* PSS and RSS of process pid in KiB, from /proc/PID/smaps_rollup. 0 or -1. */
int bench_proc_mem(int pid, double *pss_kib, double *rss_kib);

#endif

/*
 * bench/bench_troupe.h - benchmark 8 of issue 4, "troupe", part of ens-bench.
 */
#ifndef ENS_BENCH_TROUPE_H
#define ENS_BENCH_TROUPE_H

/* Troupes of 1, 2 and 4 workers doing about 1 ms of CPU work per message on
 * the process base, and the raw baseline beside them (1, 2, 4 forked
 * processes doing the same work, fed over socketpairs): messages per second,
 * one JSON line per figure with an extra "workers" field. Failures are
 * reported with bench_fail. Every system is shut down and every child
 * reaped before it returns. */
void bench_troupe_group(void);

#endif

/*
 * bench/bench_spin.h - "spin": requests across cores. Pingpong with both
 * actors on one CPU, on two different CPUs (sched_setaffinity) and
 * unpinned, with the adaptive spin (ens_system_opts.spin_us) on and off,
 * each beside the raw socketpair round trip placed the same way, with and
 * without the same spin; the unpinned ones again with the other core kept
 * busy; and the CPU an idle system of many actors uses, spin on and off.
 */
#ifndef ENS_BENCH_SPIN_H
#define ENS_BENCH_SPIN_H

#include <stddef.h>
#include <stdint.h>

#include "ensemble/ensemble.h"

void bench_spin_group(void);

/* Shared with ens_bench.c, where they are defined. */
extern const ens_actor_def echo_def, pinger_def;
uint8_t *sample_frame(long payload, size_t *len);
int pingpong_run(ens_ctx *out, ens_addr pinger, ens_addr ponger, long n, double *us);

#endif

/*
 * bench/bench_convention.h - ens-bench base "convention": two systems of
 * one convention on a private nats-server, with plain-libnats baselines
 * (bench/bench_convention.c).
 */
#ifndef ENS_BENCH_CONVENTION_H
#define ENS_BENCH_CONVENTION_H

void bench_convention_group(void);

#endif

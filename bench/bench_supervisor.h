/*
 * bench/bench_supervisor.h - "supervisor": start-all and one_for_all
 * restart-all per child at 10 / 100 / 1 000 / 5 000 children, and the
 * supervisor's memory per child (bench/bench_supervisor.c).
 */
#ifndef ENS_BENCH_SUPERVISOR_H
#define ENS_BENCH_SUPERVISOR_H

void bench_supervisor_group(void);

#endif

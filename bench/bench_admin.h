/*
 * bench/bench_admin.h - "admin_scaling": the admin's CPU time per event as
 * the number of actors grows (bench/bench_admin.c).
 */
#ifndef ENS_BENCH_ADMIN_H
#define ENS_BENCH_ADMIN_H

void bench_admin_group(void);

#endif

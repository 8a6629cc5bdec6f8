/*
 * bench/bench_convention_shared.h - what the files of ens-bench's base
 * "convention" share (bench/bench_convention.c defines it; the names and
 * remote-spawn figures are in bench_convention_names.c and
 * bench_convention_spawn.c). Internal to ens-bench.
 */
#ifndef ENS_BENCH_CONVENTION_SHARED_H
#define ENS_BENCH_CONVENTION_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"

#define CONV_WAIT_MS 60000u /* longest wait for any one reply or report */

/* Start a pinger or a producer (n messages to peer), tell a counter how
 * many to expect (n), or a registrar how many names to register (n). */
typedef struct {
    int64_t n;
    ens_addr peer;
} conv_start_v;
extern ens_msgtype conv_start_t;

/* The echo of an ens.Int64 (its receive, and the definition). */
int conv_echo_receive(ens_ctx *c, void *st, const ens_msg *m);
extern const ens_actor_def conv_echo_def;

/* The next message to out (an outside), waiting up to CONV_WAIT_MS: 0 and
 * its ens.Int64 in *value, or a negative error code (ENS_EBADTYPE: another
 * type). */
int conv_listen_int64(ens_ctx *out, int64_t *value);

/* ---- the raw libnats baselines (in forked children) ------------------ */

/* A plain libnats connection to the group's server (SendAsap when asap), or
 * NULL. Only in a forked child: libnats starts threads. */
natsConnection *conv_raw_connect(bool asap);

/* Write all n bytes of p to fd (stops at an error). */
void conv_write_all(int fd, const void *p, size_t n);

/* Read n bytes from fd into p; false at an error or the end first. */
bool conv_read_all(int fd, void *p, size_t n);

/* Reap child pid, SIGKILLed first when kill_it. Nothing for pid <= 0. */
void conv_reap(pid_t pid, bool kill_it);

/* Fork a child that runs body(fd, n) and _exits; *fd is the parent's end
 * of a socketpair to it. The child's pid, or -1. */
pid_t conv_child(void (*body)(int fd, long n), long n, int *fd);

/* ---- figures --------------------------------------------------------- */

/* One run of n: 0 and the figure in *v, or a negative error code. */
typedef int (*conv_run_fn)(long n, double *v, void *arg);

/* One figure: a warm-up at a tenth of n, then bench.runs recorded runs of
 * fn; printed, or reported as failed. */
void conv_measure(const char *name, const char *base, long n, long payload, const char *unit,
                  conv_run_fn fn, void *arg);

/* name_register and name_lookup (bench_convention_names.c): A and B of the
 * convention, solo a system without one. */
void conv_names_figures(ens_system *a, ens_system *b, ens_system *solo);

/* Register what remote_spawn places (before any system starts: a placed
 * actor's type must be known on B); 0 or a negative error code. */
int conv_spawn_register(void);

/* remote_spawn (bench_convention_spawn.c): spawns on A of a type that only
 * B can run, and local ones for the baseline. */
void conv_spawn_figures(ens_system *a, ens_system *b);

/* Start a system called tag (with the group's convention when convention)
 * into *s; 0 or a negative error code. */
int conv_start(const char *tag, bool convention, ens_system **s);

/* The same with capabilities caps ("key=value" lines, or NULL). */
int conv_start_caps(const char *tag, bool convention, const char *caps, ens_system **s);

/* detect (bench_convention_detect.c): victims started, joined and
 * SIGKILLed; how long until A's subscriber sees each unreachable. */
void conv_detect_figures(ens_system *a);

/* The Detector (bench_convention_detect.c): subscribed to the convention's
 * updates, it keeps when it was told each node joined and went unreachable
 * (the last of each, on the monotonic clock of bench_now_ns). */
extern const ens_actor_def conv_detector_def;

/* What the Detector at d was told about node, in *joined and *down (0: not
 * told); false if it did not answer within CONV_WAIT_MS. */
bool conv_detector_ask(ens_ctx *out, ens_addr d, uint32_t node, uint64_t *joined, uint64_t *down);

/* Sleep ms (for polling what offers nothing to wait on). */
void conv_nap_ms(long ms);

/* qsort's comparison of doubles. */
int conv_cmp_double(const void *a, const void *b);

/* Sort the n figures ms and print NAME (the median) and NAME_p99 (nearest
 * rank), base "convention". */
void conv_print_spread(const char *name, long n, double *ms);

/* Register what restart_across places (before any system starts); 0 or a
 * negative error code. */
int conv_loss_register(void);

/* restart_across and heal (bench_convention_loss.c): victims running a
 * supervisor's placed child SIGKILLed, and a member's gateway stopped and
 * continued. */
void conv_loss_figures(ens_system *a);

#endif

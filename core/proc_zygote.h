/*
 * core/proc_zygote.h - the zygote and its spares: how new actors get a
 * process quickly. Internal.
 *
 * Forking the admin itself gets dearer with every actor it holds: the
 * kernel copies its page tables, one stage mapping and a few descriptors
 * per actor, and the child then drops all of them again (measured: 1 000
 * forks/s from a small process, 208/s from one holding 1 000 stages and
 * 3 000 descriptors). And on this kind of machine a fork costs about a
 * millisecond however small the process is, and every page a new process
 * first writes costs 15-20 us (BENCHMARKS.md, spawn).
 *
 * So the admin forks a zygote before any actor exists, and the zygote
 * keeps ENS_ZYGOTE_SPARES spare processes ready: each is cloned with
 * CLONE_PARENT (the admin is its parent, like any actor's: SIGCHLD, waitpid
 * and restarts are unchanged), has taken its first page faults, and waits
 * on a channel the zygote hands to the admin. A first incarnation is one
 * message to a spare (its control channel, receiving end and stage memfd,
 * with the start argument); the admin then asks the zygote for a new spare,
 * which is cloned while the actor runs its init. Restarts still fork from
 * the admin, which holds every receiving end of the actor.
 *
 * The zygote is an optimisation only: without it (it failed to start, or
 * was killed) the admin forks actors itself, as before.
 */
#ifndef ENS_CORE_PROC_ZYGOTE_H
#define ENS_CORE_PROC_ZYGOTE_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/proc.h"

#define ENS_ZYGOTE_SPARES 2 /* spare processes kept ready */

typedef struct ens_spare {
    pid_t pid;
    int fd; /* the admin's end of the spare's channel */
} ens_spare;

typedef struct ens_zygote {
    pid_t pid; /* 0: none (never started, or gone) */
    int fd;    /* the admin's end of the zygote's channel, -1 if none */
    ens_spare spares[ENS_ZYGOTE_SPARES];
    int n_spares;
    int asked; /* spares asked for and not yet received */
} ens_zygote;

/* In the admin, before any actor: fork the zygote of s, which starts
 * making spares. admin is the admin's pid (the zygote and the spares die
 * with it). On failure z has no zygote and the admin forks actors itself.
 * Errors: ENS_EIO (socketpair or fork failed). */
int ens__zygote_start(ens_system *s, pid_t admin, ens_zygote *z);

/* The zygote's channel (z->fd) is readable: take the spares it sent. When
 * it says end of file, the zygote is forgotten (the spares in hand stay)
 * and true is returned. */
bool ens__zygote_on_readable(ens_zygote *z);

/* Start a first incarnation described by boot in a spare: boot->ctl (the
 * actor's end of its control channel), boot->rx[0] (its one receiving end;
 * boot->n_rx must be 1) and stage_fd (the memfd behind boot->stage) go to
 * the spare and stay owned by the caller. With no spare in hand but one on
 * its way, waits for it (at most a few seconds). On success *pid is the
 * actor's process, a child of the admin. Errors:
 *  - ENS_ENOENT: no spare to be had (fork the actor yourself);
 *  - ENS_EINVAL: boot cannot go this way (more than one receiving end);
 *  - as ens__frame_build (a start argument too large for one message). */
int ens__zygote_fork(ens_zygote *z, const ens_actor_boot *boot, int stage_fd, pid_t *pid);

/* The admin reaped process pid: true if it was the zygote (forgotten if
 * it was not yet, its spares stay) or a spare (forgotten, and a new one
 * asked for). */
bool ens__zygote_exited(ens_zygote *z, pid_t pid);

/* At the admin's end: kill the zygote and the spares, close their
 * channels. The caller reaps them with its other children. */
void ens__zygote_stop(ens_zygote *z);

#endif

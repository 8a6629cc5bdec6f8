/*
 * core/process/proc_zygote.h - the zygote and its spares: how new actors get a
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
 * keeps at least ENS_ZYGOTE_SPARES spare processes ready: each is cloned with
 * CLONE_PARENT (the admin is its parent, like any actor's: SIGCHLD, waitpid
 * and restarts are unchanged), has taken its first page faults, and waits
 * on a channel the zygote hands to the admin. A first incarnation is one
 * message to a spare (its control channel, receiving end and stage memfd,
 * with the start argument); the admin then asks the zygote for a new spare,
 * which is cloned while the actor runs its init. Later incarnations (a
 * restart in place, a supervisor's child started again at its kept
 * address) go the same way: the admin keeps each actor's stage memfd, and
 * sends the receiving ends it holds for the actor (up to
 * ENS_ZYGOTE_MAX_RX; an actor with more is forked from the admin).
 *
 * The pool grows with demand and shrinks back at rest. A spawn that finds
 * no spare in hand doubles the number kept ready (up to z->cap, a 64th of
 * RLIMIT_NOFILE and at most ENS_ZYGOTE_SPARES_MAX: each spare in hand costs
 * the admin its channel), and the zygote clones the spares asked for in
 * one go, sending each as it is made, so a batch of spawns finds spares
 * made while the admin served the earlier ones instead of waiting for a
 * clone per spawn. ENS_ZYGOTE_IDLE_MS after the last spawn the surplus is
 * let go (its channels closed: the spares end on end of file) and the
 * pool is back at its floor.
 *
 * The zygote is an optimisation only: without it (it failed to start, or
 * died too often) the admin forks actors itself, as before. When it dies
 * the admin starts a new one (core/process/admin/helpers.c: at most a few times a
 * minute). A new zygote is forked from an admin that holds every actor's
 * channels, receiving ends and stages: before anything else it closes every
 * descriptor but its channel (an actor's connection held open elsewhere
 * would hide the actor's hang-up) and runs the admin's drop callback, which
 * unmaps the stages. The spares of the dead zygote stay in use: each holds
 * only its own channel, already the admin's child like any spare, and the
 * new zygote is asked only for the ones missing.
 */
#ifndef ENS_CORE_PROC_ZYGOTE_H
#define ENS_CORE_PROC_ZYGOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/process/proc.h"

#define ENS_ZYGOTE_SPARES     2   /* spare processes kept ready at rest (the floor) */
#define ENS_ZYGOTE_SPARES_MAX 32  /* most kept ready while spawns come fast */
#define ENS_ZYGOTE_IDLE_MS    500 /* without a spawn this long, the pool shrinks to its floor */
/* Most receiving ends an incarnation started in a spare takes: one control
 * frame carries them with its stage (ENS_CTL_MAX_FDS in all). */
#define ENS_ZYGOTE_MAX_RX (ENS_CTL_MAX_FDS - 1)

typedef struct ens_spare {
    pid_t pid;
    int fd; /* the admin's end of the spare's channel */
} ens_spare;

typedef struct ens_zygote {
    pid_t pid;    /* 0: none (never started, or reaped); stays until reaped */
    int fd;       /* the admin's end of the zygote's channel, -1 if none */
    unsigned gen; /* +1 whenever fd is closed or replaced (fd numbers are reused) */
    bool stuck;   /* the admin killed it: a spare was late (SPARE_WAIT_MS) */
    ens_spare spares[ENS_ZYGOTE_SPARES_MAX];
    int n_spares;
    int asked;             /* spares asked for and not yet received */
    int want;              /* spares to keep ready now: ENS_ZYGOTE_SPARES to cap */
    int cap;               /* most spares in hand (set from RLIMIT_NOFILE) */
    uint64_t last_fork_ns; /* when a spawn last took a spare (monotonic) */
} ens_zygote;

/* What ens__zygote_exited found a reaped process to be. */
typedef enum ens_zygote_child {
    ENS_ZYGOTE_NOT_OURS, /* neither the zygote nor a spare in hand */
    ENS_ZYGOTE_SPARE,    /* a spare in hand (forgotten, a new one asked for) */
    ENS_ZYGOTE_ITSELF,   /* the zygote (forgotten; its spares in hand stay) */
} ens_zygote_child;

/* No zygote and no spare yet. */
void ens__zygote_init(ens_zygote *z);

/* In the admin: fork a zygote for s, the first one (before any actor) or
 * one in place of a zygote that was reaped (z->pid is 0). Spares in hand
 * stay; the new zygote makes the ones missing. admin is the admin's pid
 * (the zygote and the spares die with it). drop, if not NULL, runs first
 * in the new zygote, to let go of what the admin holds besides descriptors
 * (which are all closed). On failure z has no zygote and the admin forks
 * actors itself. Errors: ENS_EIO (socketpair or fork failed). */
int ens__zygote_start(ens_system *s, pid_t admin, ens_zygote *z, void (*drop)(void));

/* The zygote's channel (z->fd) is readable: take the spares it sent. When
 * it says end of file, the channel is closed (z->pid stays until reaped)
 * and true is returned. */
bool ens__zygote_on_readable(ens_zygote *z);

/* True if a first incarnation may start in a spare (one in hand, or a
 * zygote to make one): the caller then makes its stage shareable. */
bool ens__zygote_can_fork(const ens_zygote *z);

/* Ask the zygote for a spare if fewer than ENS_ZYGOTE_SPARES are ready or
 * asked for: after a fork for an actor that answers its spawner itself
 * (ens__zygote_fork leaves that to its caller, once the answer left). */
void ens__zygote_top_up(ens_zygote *z);

/* Start an incarnation described by boot in a spare: boot->rx[0..n_rx)
 * (its receiving ends, 0 to ENS_ZYGOTE_MAX_RX) and stage_fd (the memfd
 * behind its stage) go to the spare and stay owned by the caller
 * (boot->ctl is not used). The spare's channel becomes the actor's control
 * channel: on success *ctl is the admin's end of it (the caller's to keep
 * and close) and *pid the actor's process, a child of the admin. With no
 * spare in hand but one on its way, waits for it (at most a few seconds).
 * Errors:
 *  - ENS_ENOENT: no spare to be had (fork the actor yourself);
 *  - ENS_EINVAL: boot cannot go this way (too many receiving ends);
 *  - as ens__frame_build (a start argument too large for one message). */
int ens__zygote_fork(ens_zygote *z, const ens_actor_boot *boot, int stage_fd, pid_t *pid, int *ctl);

/* The admin reaped process pid: was it the zygote or a spare in hand?
 * Either is forgotten (the spares the zygote had sent are taken first). */
ens_zygote_child ens__zygote_exited(ens_zygote *z, pid_t pid);

/* The pool's timer, at every turn of the admin's loop (now: monotonic
 * ns): ENS_ZYGOTE_IDLE_MS after the last spawn the spares kept beyond
 * ENS_ZYGOTE_SPARES are let go. Returns when to call it again (0: not
 * before the next spawn). */
uint64_t ens__zygote_tick(ens_zygote *z, uint64_t now);

/* At the admin's end: kill the zygote and the spares, close their
 * channels. The caller reaps them with its other children. */
void ens__zygote_stop(ens_zygote *z);

#endif

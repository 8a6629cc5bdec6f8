/*
 * core/process/proc_door.h - how programs reach a process-base system by its name,
 * and who may. Internal.
 *
 * A named system listens at two addresses:
 *  - its path socket, RUNDIR/NAME, in a runtime directory that only this
 *    user can write: $XDG_RUNTIME_DIR/ensemble when XDG_RUNTIME_DIR is a
 *    directory of ours that nobody else can write, else
 *    /run/user/UID/ensemble when /run/user/UID is one, else
 *    /tmp/ensemble-UID. The directory is made 0700 and checked every time
 *    (a real directory, not a symlink, ours, mode 0700): no other user can
 *    put a socket there, so nobody can take the name from us;
 *  - the abstract name "ensemble.UID.NAME", kept so that a program whose
 *    environment names another runtime directory (or none: cron, sudo)
 *    still finds the system. Any local user can bind any abstract name, so
 *    it is never trusted without a look at who listens (SO_PEERCRED).
 * Starting (under a lock on the runtime directory, so that two starts of
 * ours never race) binds the path socket: a leftover socket file that
 * refuses connections is the stale one of a killed system and is removed;
 * one that answers from this user means the system runs already. It then
 * refuses the name if a system of ours answers at it in another of the
 * runtime directories above (another environment's), and binds the
 * abstract name if it is free: held by another user, it is left to them (a
 * warning names the uid) and the system listens at its path only; held by
 * this user, the system runs already. Sockets of unnamed systems whose program is gone are swept.
 * Connecting tries the path socket in each candidate runtime directory
 * that exists and is safe, then the abstract name, and talks only to a
 * listener of its own uid: another uid gets not a byte (ENS_EPEERCRED).
 * The admin holds both listening sockets (it listens again, so that the
 * kernel names it, not the starter, as the listener) and removes the
 * socket file when it ends, before it stops listening.
 */
#ifndef ENS_CORE_PROC_DOOR_H
#define ENS_CORE_PROC_DOOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "core/runtime/runtime.h"

/* The listening sockets of a system, made by ens__door_open. */
typedef struct ens_door {
    int path_fd;     /* listening at path, -1 if none */
    int abstract_fd; /* listening at the abstract name, -1 if another holds it */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev; /* the socket file we bound, so that only ours is removed */
    ino_t ino;
} ens_door;

/* Who answered at a socket (SO_PEERCRED of the listener). */
typedef struct ens_peer {
    int uid, pid;
} ens_peer;

/* Check the runtime directory candidate dir: a directory (not a symlink),
 * owned by this user, mode 0700. With create, make it (0700) when it does
 * not exist. Returns 0, ENS_ENOENT (absent), ENS_EACCES (unsafe: why, if
 * not NULL, gets a sentence naming what is wrong), ENS_EIO. */
int ens__rundir_check(const char *dir, bool create, char *why, size_t why_len);

/* This user's runtime directory for system sockets (see above) into
 * out[len], made if create. Errors: as ens__rundir_check, ENS_ENOBUFS (the
 * path is too long for a socket address). */
int ens__rundir(char *out, size_t len, bool create, char *why, size_t why_len);

/* The path socket address of system `name` of this user (the directory is
 * not made or checked). Returns the address length, or ENS_EINVAL (bad
 * name), ENS_ENOBUFS (too long). */
int ens__system_pathaddr(const char *name, struct sockaddr_un *sa);

/* Start side: bind and listen at both addresses of s's name, logging to s
 * why a start is refused. Errors: ENS_EEXIST (a system of ours of that
 * name runs), ENS_EPEERCRED (the path socket answers from another uid:
 * only root could have put it there), ENS_EACCES (unsafe runtime
 * directory), ENS_ENOBUFS (its path is too long), ENS_EIO. */
int ens__door_open(ens_system *s, ens_door *d);

/* Close d's sockets; with remove, also remove its socket file (if it is
 * still the one bound). */
void ens__door_close(ens_door *d, bool remove);

/* Connect to system `name` of this user: its path socket in each safe
 * runtime directory, then its abstract name. *fd (blocking, close-on-exec) is a connection to a
 * listener of this uid; *who says who answered (also on ENS_EPEERCRED).
 * With any_uid, a listener of another uid is connected too (to ask who it
 * is). Errors: ENS_ENOENT (nobody listens), ENS_EPEERCRED (another uid
 * listens: nothing was sent), ENS_ETIMEDOUT (the listener's queue stayed
 * full), ENS_EIO. */
int ens__door_connect(const char *name, bool any_uid, int *fd, ens_peer *who);

/* The names of this user's running systems: the sockets in every runtime
 * directory that ens__door_connect looks in whose names are system names
 * and at which a process of this user listens (stale sockets and other
 * users' listeners are left out), each name once, sorted. *names (free
 * each and the array) holds *count of them; NULL when none. Returns 0 or
 * ENS_ENOMEM. */
int ens__door_list(char ***names, size_t *count);

/* The same names, ", "-separated, into out[0..len) ("" when none; names
 * that do not fit are left out). */
void ens__door_list_text(char *out, size_t len);

/* As ens__door_connect, at one address. */
int ens__door_connect_addr(const struct sockaddr_un *sa, socklen_t len, bool any_uid, int *fd,
                           ens_peer *who);

/* ---- refused connections, logged without flooding the log ------------- */

#define ENS_REFUSAL_WINDOW_MS 10000u /* at most one line per source and reason */
#define ENS_REFUSAL_SOURCES   32u

typedef struct ens_refusal {
    int uid, pid;    /* the source, and the last pid seen */
    const char *why; /* static text: the reason, part of the key */
    uint64_t since;  /* monotonic ns: when its last line was written */
    uint64_t held;   /* refusals since then, not yet logged */
} ens_refusal;

typedef struct ens_refusals {
    ens_refusal e[ENS_REFUSAL_SOURCES];
    size_t n;
} ens_refusals;

/* A connection from uid/pid was refused for why (static text): the first
 * of a window is logged at once, the rest are counted and logged as one
 * line when the window ends. */
void ens__refusal_note(ens_system *s, ens_refusals *t, int uid, int pid, const char *why,
                       uint64_t now);

/* Log the counts of the windows that ended by now (all of them with all).
 * Returns the monotonic time at which the next window ends, 0 if none. */
uint64_t ens__refusal_flush(ens_system *s, ens_refusals *t, uint64_t now, bool all);

#endif

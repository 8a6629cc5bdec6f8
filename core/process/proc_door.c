/*
 * core/process/proc_door.c - the door of a process-base system: where it listens
 * (a path socket in a private runtime directory, and an abstract name that
 * is checked before it is trusted), what a start does with a socket left by
 * a crashed system or a name held by someone else, how a program connects
 * only to a listener of its own user, and how refused connections are
 * logged without letting their sender flood the log. core/process/proc_door.h says
 * why there are two addresses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "ensemble/error.h"

#define CONNECT_WAIT_S 5 /* a listener whose queue stays full this long is stuck */

int ens__rundir_check(const char *dir, bool create, char *why, size_t why_len)
{
    char none[8];
    if (why == NULL) {
        why = none;
        why_len = sizeof(none);
    }
    why[0] = '\0';
    if (create) {
        if (mkdir(dir, 0700) == 0) {
            /* The umask may have taken bits we want; it never adds any. */
            if (chmod(dir, 0700) < 0) {
                snprintf(why, why_len, "cannot be made private: %s", strerror(errno));
                return ENS_EIO;
            }
        } else if (errno != EEXIST) {
            int e = errno;
            snprintf(why, why_len, "cannot be made: %s", strerror(e));
            return e == ENOENT ? ENS_ENOENT : e == EACCES || e == EPERM ? ENS_EACCES : ENS_EIO;
        }
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int e = errno;
        snprintf(why, why_len, "cannot be read: %s", strerror(e));
        return e == ENOENT || e == ENOTDIR ? ENS_ENOENT : ENS_EIO;
    }
    /* Whoever owns the directory or can write it decides what answers at
     * the system's name: it must be ours alone. */
    if (S_ISLNK(st.st_mode)) {
        snprintf(why, why_len, "is a symbolic link, not a directory");
        return ENS_EACCES;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "is not a directory");
        return ENS_EACCES;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, why_len, "belongs to uid %u, not to this user (uid %u)", (unsigned)st.st_uid,
                 (unsigned)geteuid());
        return ENS_EACCES;
    }
    if ((st.st_mode & 0777) != 0700) {
        snprintf(why, why_len, "has mode %04o, not 0700", (unsigned)(st.st_mode & 0777));
        return ENS_EACCES;
    }
    return 0;
}

/* A base for the runtime directory: an absolute path to a directory of
 * ours that no one else can write. */
static bool base_ok(const char *dir)
{
    struct stat st;
    return dir != NULL && dir[0] == '/' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

#define RUNDIRS 3
typedef char rundir_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* Where this user's systems may listen, in order: a system starts in the
 * first; a program looks in each that exists and is safe, so that one
 * whose environment differs (no XDG_RUNTIME_DIR under cron or sudo) still
 * finds it. Returns how many (paths too long are left out). */
static size_t rundir_candidates(rundir_path *out)
{
    unsigned uid = (unsigned)geteuid();
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char run[64];
    snprintf(run, sizeof(run), "/run/user/%u", uid);
    size_t n = 0;
    int len;
    if (base_ok(xdg) && (len = snprintf(out[n], sizeof(out[n]), "%s/ensemble", xdg)) > 0 &&
        (size_t)len < sizeof(out[n]))
        n++;
    if (base_ok(run))
        snprintf(out[n++], sizeof(out[0]), "%s/ensemble", run);
    snprintf(out[n++], sizeof(out[0]), "/tmp/ensemble-%u", uid);
    if (n == 3 && strcmp(out[0], out[1]) == 0) { /* XDG_RUNTIME_DIR is /run/user/UID */
        memmove(out[1], out[2], sizeof(out[0]));
        n--;
    }
    return n;
}

int ens__rundir(char *out, size_t len, bool create, char *why, size_t why_len)
{
    rundir_path dirs[RUNDIRS];
    rundir_candidates(dirs);
    int n = snprintf(out, len, "%s", dirs[0]);
    if (n < 0 || (size_t)n >= len)
        return ENS_ENOBUFS;
    return ens__rundir_check(out, create, why, why_len);
}

static int path_addr(const char *dir, const char *name, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
        return ENS_ENOBUFS;
    return (int)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
}

int ens__system_pathaddr(const char *name, struct sockaddr_un *sa)
{
    if (!ens__system_name_ok(name))
        return ENS_EINVAL;
    char dir[sizeof(sa->sun_path)];
    int rc = ens__rundir(dir, sizeof(dir), false, NULL, 0);
    return rc < 0 ? rc : path_addr(dir, name, sa);
}

int ens__system_sockaddr(const char *name, struct sockaddr_un *sa)
{
    if (!ens__system_name_ok(name))
        return ENS_EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* Abstract namespace: nothing on disk, gone with the admin. */
    int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "ensemble.%u.%s",
                     (unsigned)geteuid(), name);
    return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* ---- starting: binding both addresses ----------------------------------- */

enum probe_result { PROBE_NONE, PROBE_STALE, PROBE_HELD };

/* Who is at address sa: nobody (no such socket), a socket nobody listens
 * on (stale), or a listener (who: its uid and pid, -1 when it cannot be
 * told: its queue is full, or it is not a SOCK_SEQPACKET socket). */
static int probe(const struct sockaddr_un *sa, socklen_t len, ens_peer *who)
{
    *who = (ens_peer){-1, -1};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ENS_EIO;
    int rc;
    if (connect(fd, (const struct sockaddr *)sa, len) == 0) {
        struct ucred c;
        socklen_t cl = sizeof(c);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &cl) == 0)
            *who = (ens_peer){(int)c.uid, (int)c.pid};
        rc = PROBE_HELD;
    } else if (errno == EAGAIN || errno == EPROTOTYPE) {
        rc = PROBE_HELD;
    } else if (errno == ECONNREFUSED) {
        rc = PROBE_STALE;
    } else if (errno == ENOENT) {
        rc = PROBE_NONE;
    } else {
        rc = ENS_EIO;
    }
    close(fd);
    return rc;
}

static int listen_at(const struct sockaddr_un *sa, socklen_t len, int *out)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ENS_EIO;
    if (bind(fd, (const struct sockaddr *)sa, len) < 0) {
        int e = errno;
        close(fd);
        return e == EADDRINUSE ? ENS_EEXIST : ENS_EIO;
    }
    if (listen(fd, 64) < 0) {
        close(fd);
        if (sa->sun_path[0] != '\0')
            unlink(sa->sun_path);
        return ENS_EIO;
    }
    *out = fd;
    return 0;
}

/* Bind the path socket; a socket file that refuses connections is the
 * leftover of a system that ended without removing it (killed): removed.
 * The caller holds the runtime directory's lock, so no other start of
 * ours can be between its probe and its bind. */
static int bind_path(ens_system *s, const struct sockaddr_un *sa, socklen_t len, ens_door *d)
{
    const uid_t me = geteuid();
    int rc = ENS_EEXIST;
    for (int round = 0; round < 3 && rc == ENS_EEXIST; round++) {
        rc = listen_at(sa, len, &d->path_fd);
        if (rc != ENS_EEXIST)
            break;
        ens_peer who;
        int p = probe(sa, len, &who);
        if (p < 0)
            return p;
        if (p == PROBE_HELD) {
            if (who.uid < 0 || (uid_t)who.uid == me)
                return ENS_EEXIST; /* it runs already */
            /* Only root can put a socket in our 0700 directory. */
            ens__log(s, NULL, ENS_LOG_ERROR,
                     "cannot start system %s: its socket %s answers from uid %d (pid %d), not "
                     "from this user: refusing to share the name",
                     s->name, sa->sun_path, who.uid, who.pid);
            return ENS_EPEERCRED;
        }
        struct stat st;
        if (p == PROBE_STALE) {
            if (lstat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                ens__log(s, NULL, ENS_LOG_ERROR, "cannot start system %s: %s is not a socket",
                         s->name, sa->sun_path);
                return ENS_EEXIST;
            }
            unlink(sa->sun_path);
            ens__log(s, NULL, ENS_LOG_INFO,
                     "removed %s, left by a system of that name that ended without removing it",
                     sa->sun_path);
        }
    }
    if (rc < 0)
        return rc;
    struct stat st;
    if (lstat(sa->sun_path, &st) == 0) {
        d->dev = st.st_dev;
        d->ino = st.st_ino;
    }
    snprintf(d->path, sizeof(d->path), "%s", sa->sun_path);
    return 0;
}

/* Bind the abstract name too, if it is free. Held by another user, it is
 * left to them: the system is reached at its path socket, and programs
 * that find the impostor refuse it. Held by this user, a system of that
 * name runs (found through another runtime directory). */
static int bind_abstract(ens_system *s, ens_door *d)
{
    struct sockaddr_un sa;
    int salen = ens__system_sockaddr(s->name, &sa);
    if (salen < 0)
        return salen;
    int rc = listen_at(&sa, (socklen_t)salen, &d->abstract_fd);
    ens_peer who = {-1, -1};
    if (rc == ENS_EEXIST) {
        int p = probe(&sa, (socklen_t)salen, &who);
        if (p == PROBE_NONE) /* it went meanwhile */
            rc = listen_at(&sa, (socklen_t)salen, &d->abstract_fd);
        else if (p == PROBE_HELD && who.uid >= 0 && (uid_t)who.uid == geteuid()) {
            ens__log(s, NULL, ENS_LOG_WARN,
                     "cannot start system %s: a system of this user of that name answers at its "
                     "abstract name (pid %d); it runs already, with another runtime directory",
                     s->name, who.pid);
            return ENS_EEXIST;
        }
    }
    if (rc == 0)
        return 0;
    if (who.uid >= 0)
        ens__log(s, NULL, ENS_LOG_WARN,
                 "the abstract name @%s is held by uid %d (pid %d), not by this user: system %s "
                 "listens at %s only (programs refuse the impostor)",
                 sa.sun_path + 1, who.uid, who.pid, s->name, d->path);
    else
        ens__log(s, NULL, ENS_LOG_WARN,
                 "the abstract name @%s is held by a socket of unknown owner: system %s listens "
                 "at %s only",
                 sa.sun_path + 1, s->name, d->path);
    return 0;
}

/* Remove the stale sockets of unnamed systems ("pid<P>-<N>") whose
 * starting program P is gone: a killed one leaves its socket file, and no
 * system will take that name again to replace it. Named systems' stale
 * sockets are replaced when the name starts again. The caller holds the
 * directory's lock. */
static void sweep_unnamed(const char *dir)
{
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        int pid = 0, n = 0, used = 0;
        if (sscanf(e->d_name, "pid%d-%d%n", &pid, &n, &used) != 2 || e->d_name[used] != '\0' ||
            pid <= 0 || (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        struct sockaddr_un sa;
        int len = path_addr(dir, e->d_name, &sa);
        struct stat st;
        ens_peer who;
        if (len > 0 && lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            probe(&sa, (socklen_t)len, &who) == PROBE_STALE)
            unlink(sa.sun_path);
    }
    closedir(dh);
}

/* A system of ours of that name started with another runtime directory
 * (another environment) runs already. d holds our own socket (the same
 * directory may be named twice, through a symlink). */
static int runs_elsewhere(ens_system *s, const ens_door *d)
{
    rundir_path dirs[RUNDIRS];
    size_t n = rundir_candidates(dirs);
    for (size_t i = 1; i < n; i++) {
        struct sockaddr_un sa;
        int len = path_addr(dirs[i], s->name, &sa);
        ens_peer who;
        struct stat st;
        if (len < 0 || ens__rundir_check(dirs[i], false, NULL, 0) < 0 ||
            (lstat(sa.sun_path, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino) ||
            probe(&sa, (socklen_t)len, &who) != PROBE_HELD ||
            (who.uid >= 0 && (uid_t)who.uid != geteuid()))
            continue;
        ens__log(s, NULL, ENS_LOG_WARN,
                 "cannot start system %s: a system of this user of that name answers at %s "
                 "(pid %d): it runs already, started with another runtime directory",
                 s->name, sa.sun_path, who.pid);
        return ENS_EEXIST;
    }
    return 0;
}

int ens__door_open(ens_system *s, ens_door *d)
{
    *d = (ens_door){.path_fd = -1, .abstract_fd = -1};
    char dir[sizeof(d->path)], why[160];
    int rc = ens__rundir(dir, sizeof(dir), true, why, sizeof(why));
    if (rc < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "cannot start system %s: its runtime directory %s %s (it must be a directory of "
                 "this user's, mode 0700)",
                 s->name, dir, rc == ENS_ENOBUFS ? "has too long a path" : why);
        return rc == ENS_ENOENT ? ENS_EIO : rc;
    }
    struct sockaddr_un pa;
    int plen = path_addr(dir, s->name, &pa);
    if (plen < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "cannot start system %s: %s/%s is too long for a socket address", s->name, dir,
                 s->name);
        return plen;
    }
    /* One start of ours at a time decides about the directory's sockets. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return ENS_EIO;
    while (flock(dfd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            close(dfd);
            return ENS_EIO;
        }
    }
    sweep_unnamed(dir);
    rc = bind_path(s, &pa, (socklen_t)plen, d);
    if (rc == 0)
        rc = runs_elsewhere(s, d);
    if (rc == 0)
        rc = bind_abstract(s, d);
    if (rc < 0)
        ens__door_close(d, true);
    close(dfd); /* and with it the lock */
    return rc;
}

void ens__door_close(ens_door *d, bool remove)
{
    /* Removed while still listening: a start racing with us then finds a
     * live socket, never a stale one it would remove after we let go. */
    struct stat st;
    if (remove && d->path[0] != '\0' && lstat(d->path, &st) == 0 && st.st_dev == d->dev &&
        st.st_ino == d->ino)
        unlink(d->path);
    if (d->path_fd >= 0)
        close(d->path_fd);
    if (d->abstract_fd >= 0)
        close(d->abstract_fd);
    d->path_fd = d->abstract_fd = -1;
    d->path[0] = '\0';
}

/* ---- listing the running systems ---------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the running systems of directory dir to names (if not there yet). */
static int list_dir(const char *dir, char ***names, size_t *n, size_t *cap)
{
    if (ens__rundir_check(dir, false, NULL, 0) < 0)
        return 0; /* not there, or not safe: connect would not look in it */
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        if ((e->d_type != DT_SOCK && e->d_type != DT_UNKNOWN) || !ens__system_name_ok(e->d_name))
            continue;
        bool seen = false;
        for (size_t i = 0; i < *n && !seen; i++)
            seen = strcmp((*names)[i], e->d_name) == 0;
        struct sockaddr_un sa;
        struct stat st;
        ens_peer who;
        int len = path_addr(dir, e->d_name, &sa);
        if (seen || len < 0 || lstat(sa.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            probe(&sa, (socklen_t)len, &who) != PROBE_HELD || who.uid != (int)geteuid())
            continue;
        if (*n == *cap) {
            size_t c = *cap == 0 ? 8 : 2 * *cap;
            char **p = realloc(*names, c * sizeof(*p));
            if (p == NULL) {
                rc = ENS_ENOMEM;
                break;
            }
            *names = p;
            *cap = c;
        }
        if (((*names)[*n] = strdup(e->d_name)) == NULL)
            rc = ENS_ENOMEM;
        else
            (*n)++;
    }
    closedir(dh);
    return rc;
}

int ens__door_list(char ***names, size_t *count)
{
    rundir_path dirs[RUNDIRS];
    size_t nd = rundir_candidates(dirs);
    char **all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nd && rc == 0; i++)
        rc = list_dir(dirs[i], &all, &n, &cap);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(all[i]);
        free(all);
        all = NULL;
        n = 0;
    } else if (n > 1) {
        qsort(all, n, sizeof(*all), by_name);
    }
    *names = all;
    *count = n;
    return rc;
}

/* ---- connecting: only to a listener of our own user -------------------- */

int ens__door_connect_addr(const struct sockaddr_un *sa, socklen_t len, bool any_uid, int *fd,
                           ens_peer *who)
{
    *fd = -1;
    *who = (ens_peer){-1, -1};
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return ENS_EIO;
    /* A listener whose queue is full holds a blocking connect: not forever. */
    struct timeval tv = {CONNECT_WAIT_S, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int r;
    do
        r = connect(s, (const struct sockaddr *)sa, len);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(s);
        switch (e) {
        case ENOENT:
        case ECONNREFUSED:
        case ENOTDIR:
        case EACCES:
            return ENS_ENOENT;
        case EAGAIN:
        case EINPROGRESS:
            return ENS_ETIMEDOUT;
        case EPROTOTYPE: /* not a system's kind of socket: someone else's */
            return ENS_EPEERCRED;
        default:
            return ENS_EIO;
        }
    }
    tv = (struct timeval){0, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct ucred c;
    socklen_t cl = sizeof(c);
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &c, &cl) < 0) {
        close(s);
        return ENS_EIO;
    }
    *who = (ens_peer){(int)c.uid, (int)c.pid};
    if (c.uid != geteuid() && !any_uid) {
        close(s); /* nothing sent, nothing read */
        return ENS_EPEERCRED;
    }
    *fd = s;
    return 0;
}

int ens__door_connect(const char *name, bool any_uid, int *fd, ens_peer *who)
{
    *fd = -1;
    *who = (ens_peer){-1, -1};
    if (!ens__system_name_ok(name))
        return ENS_EINVAL;
    struct sockaddr_un sa;
    int len;
    rundir_path dirs[RUNDIRS];
    size_t n = rundir_candidates(dirs);
    for (size_t i = 0; i < n; i++) {
        /* A directory that is not safe is not looked into: whatever
         * answers there could have been put there by someone else. */
        if (ens__rundir_check(dirs[i], false, NULL, 0) < 0 ||
            (len = path_addr(dirs[i], name, &sa)) < 0)
            continue;
        int rc = ens__door_connect_addr(&sa, (socklen_t)len, any_uid, fd, who);
        if (rc != ENS_ENOENT)
            return rc;
    }
    len = ens__system_sockaddr(name, &sa);
    if (len < 0)
        return len;
    return ens__door_connect_addr(&sa, (socklen_t)len, any_uid, fd, who);
}

/* ---- refused connections ------------------------------------------------ */

#define WINDOW_NS ((uint64_t)ENS_REFUSAL_WINDOW_MS * 1000000u)

/* Log what e counted since its last line, and start a new window. */
static void refusal_line(ens_system *s, ens_refusal *e, uint64_t now)
{
    if (e->held > 0)
        ens__log(s, NULL, ENS_LOG_WARN,
                 "refused %llu more connection(s) from uid %d (last pid %d) in the last %llu s: %s",
                 (unsigned long long)e->held, e->uid, e->pid,
                 (unsigned long long)((now - e->since + 500000000u) / 1000000000u), e->why);
    e->held = 0;
    e->since = now;
}

void ens__refusal_note(ens_system *s, ens_refusals *t, int uid, int pid, const char *why,
                       uint64_t now)
{
    ens_refusal *e = NULL;
    for (size_t i = 0; i < t->n && e == NULL; i++) {
        if (t->e[i].uid == uid && t->e[i].why == why)
            e = &t->e[i];
    }
    if (e != NULL && now - e->since < WINDOW_NS) {
        e->held++;
        e->pid = pid;
        return;
    }
    if (e != NULL) {
        refusal_line(s, e, now);
    } else if (t->n < ENS_REFUSAL_SOURCES) {
        e = &t->e[t->n++];
    } else { /* full: the source heard from longest ago makes room */
        e = &t->e[0];
        for (size_t i = 1; i < t->n; i++) {
            if (t->e[i].since < e->since)
                e = &t->e[i];
        }
        refusal_line(s, e, now);
    }
    *e = (ens_refusal){uid, pid, why, now, 0};
    ens__log(s, NULL, ENS_LOG_WARN, "refused a connection from uid %d (pid %d): %s", uid, pid, why);
}

uint64_t ens__refusal_flush(ens_system *s, ens_refusals *t, uint64_t now, bool all)
{
    uint64_t next = 0;
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        ens_refusal e = t->e[i];
        bool ended = all || now - e.since >= WINDOW_NS;
        if (ended && e.held == 0)
            continue; /* quiet for a whole window: forgotten */
        if (ended)
            refusal_line(s, &e, now);
        t->e[k++] = e;
        if (next == 0 || e.since + WINDOW_NS < next)
            next = e.since + WINDOW_NS;
    }
    t->n = k;
    return next;
}

void ens__door_list_text(char *out, size_t len)
{
    if (len == 0)
        return;
    out[0] = '\0';
    char **names = NULL;
    size_t n = 0;
    if (ens__door_list(&names, &n) != 0)
        return;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, len - used, "%s%s", used > 0 ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= len - used)
            out[used] = '\0'; /* what fits, whole names only */
        else
            used += (size_t)w;
        free(names[i]);
    }
    free(names);
}

/*
 * core/runtime/files.c - the checks that keep the files a system writes where their
 * owner meant them (see core/runtime/files.h for the rule and why).
 *
 * Where the code opens the file itself (the log) the checks run on the
 * open descriptor: nothing can swap the name between check and use. sqlite
 * opens the journal by name, so there the checks run on the name before
 * and after sqlite's open; the directory rule (ours or root's, sticky when
 * others may write it) is what makes a checked name keep meaning the same
 * file, and sqlite itself never follows a link at the last component
 * (it opens every file with O_NOFOLLOW).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/runtime/files.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

static bool trusted_owner(uid_t uid)
{
    return uid == geteuid() || uid == 0;
}

int ens__file_dir_check(const char *path, char *why, size_t why_len)
{
    size_t len = strlen(path);
    char *p = malloc(len + 2);
    if (p == NULL)
        return ENS_ENOMEM;
    memcpy(p, path, len + 1);
    char *last = strrchr(p, '/');
    /* Every existing prefix ending before a '/' (the directories along the
     * path, the one holding the file last): no link of another user. */
    int rc = 0;
    for (char *c = p + 1; last != NULL && c <= last && rc == 0; c++) {
        if (*c != '/' || c[-1] == '/')
            continue;
        *c = '\0';
        struct stat st;
        if (lstat(p, &st) != 0) {
            *c = '/';
            break; /* missing from here on: nothing to follow */
        }
        if (S_ISLNK(st.st_mode) && !trusted_owner(st.st_uid)) {
            ens__why(why, why_len, "%s is a symbolic link of uid %u, another user", p,
                     (unsigned)st.st_uid);
            rc = ENS_EUNSAFE;
        }
        *c = '/';
    }
    if (rc == 0) {
        const char *dir = ".";
        if (last == p)
            dir = "/";
        else if (last != NULL) {
            *last = '\0';
            dir = p;
        }
        struct stat st;
        if (stat(dir, &st) != 0) {
            int e = errno;
            ens__why(why, why_len, "directory %s: %s", dir, strerror(e));
            rc = e == ENOENT || e == ENOTDIR ? ENS_ENOENT : ENS_EIO;
        } else if (!S_ISDIR(st.st_mode)) {
            ens__why(why, why_len, "%s is not a directory", dir);
            rc = ENS_EIO;
        } else if (!trusted_owner(st.st_uid)) {
            ens__why(why, why_len, "directory %s belongs to uid %u, another user", dir,
                     (unsigned)st.st_uid);
            rc = ENS_EUNSAFE;
        } else if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
            ens__why(why, why_len, "directory %s is writable by others and not sticky", dir);
            rc = ENS_EUNSAFE;
        }
    }
    free(p);
    return rc;
}

int ens__file_stat_check(const char *path, const struct stat *st, uid_t owner, char *why,
                         size_t why_len)
{
    const char *what = NULL;
    if (S_ISLNK(st->st_mode))
        what = "a symbolic link";
    else if (S_ISFIFO(st->st_mode))
        what = "a FIFO";
    else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        what = "a device";
    else if (S_ISSOCK(st->st_mode))
        what = "a socket";
    else if (!S_ISREG(st->st_mode))
        what = "not a regular file";
    if (what != NULL) {
        ens__why(why, why_len, "%s is %s", path, what);
        return ENS_EUNSAFE;
    }
    if (st->st_uid != owner) {
        ens__why(why, why_len, "%s belongs to uid %u, not %u", path, (unsigned)st->st_uid,
                 (unsigned)owner);
        return ENS_EUNSAFE;
    }
    if (st->st_nlink != 1) {
        ens__why(why, why_len, "%s has %lu names (hard links)", path, (unsigned long)st->st_nlink);
        return ENS_EUNSAFE;
    }
    return 0;
}

int ens__file_check(const char *path, uid_t owner, bool *exists, char *why, size_t why_len)
{
    if (exists != NULL)
        *exists = false;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        ens__why(why, why_len, "%s: %s", path, strerror(errno));
        return ENS_EIO;
    }
    if (exists != NULL)
        *exists = true;
    return ens__file_stat_check(path, &st, owner, why, why_len);
}

static bool is_dev_null(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

/* An open that failed with e: say why, looking at what is there. */
static int open_failed(const char *path, int e, char *why, size_t why_len)
{
    struct stat st;
    if ((e == ELOOP || e == ENXIO || e == EEXIST) && lstat(path, &st) == 0 &&
        ens__file_stat_check(path, &st, geteuid(), why, why_len) < 0)
        return ENS_EUNSAFE;
    ens__why(why, why_len, "%s: %s", path, strerror(e));
    return e == ENOENT ? ENS_ENOENT : ENS_EIO;
}

int ens__file_open_log(const char *path, int *fd, char *why, size_t why_len)
{
    *fd = -1;
    int rc = ens__file_dir_check(path, why, why_len);
    if (rc < 0 && rc != ENS_ENOENT)
        return rc; /* a missing directory: open says which errno */
    /* O_NONBLOCK: a FIFO without a reader must not hang the open (it fails
     * with ENXIO; one with a reader opens, and fstat refuses it). */
    int f = open(
        path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
    if (f < 0)
        return open_failed(path, errno, why, why_len);
    struct stat st;
    if (fstat(f, &st) != 0) {
        ens__why(why, why_len, "%s: %s", path, strerror(errno));
        close(f);
        return ENS_EIO;
    }
    if (!is_dev_null(&st) && (rc = ens__file_stat_check(path, &st, geteuid(), why, why_len)) < 0) {
        close(f);
        return rc;
    }
    int flags = fcntl(f, F_GETFL);
    if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        ens__why(why, why_len, "%s: %s", path, strerror(errno));
        close(f);
        return ENS_EIO;
    }
    *fd = f;
    return 0;
}

int ens__file_create_private(const char *path, char *why, size_t why_len)
{
    int f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
                 0600);
    if (f >= 0) {
        close(f);
        return 0;
    }
    int e = errno;
    bool exists = false;
    int rc = ens__file_check(path, geteuid(), &exists, why, why_len);
    if (rc < 0 || exists)
        return rc; /* there already (a read-only directory is not our concern here) */
    ens__why(why, why_len, "cannot create %s: %s", path, strerror(e));
    return e == ENOENT ? ENS_ENOENT : ENS_EIO;
}

int ens__file_make_parent_dirs(const char *path)
{
    char dir[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(dir))
        return ENS_EIO;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    len = strlen(dir);
    for (size_t i = 1; i <= len; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char saved = dir[i];
        dir[i] = '\0';
        struct stat st;
        bool made = mkdir(dir, 0700) == 0 || errno == EEXIST;
        bool is_dir = made && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        dir[i] = saved;
        if (!is_dir)
            return ENS_EIO;
    }
    return 0;
}

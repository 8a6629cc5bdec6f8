/*
 * core/runtime/files.h - opening the files a system writes (its log, its failure
 * journal and sqlite's companions of it) so that another local user cannot
 * point them elsewhere. Internal.
 *
 * The threat is a name planted in a directory others may write (/tmp): a
 * symbolic link to a file of ours (the system would append to or rewrite
 * it), a hard link to one, a FIFO or a device (an open that blocks, or
 * writes that go to a terminal or a disk), a file of theirs (they read
 * what we write, or feed what we read). The rule, for every file the
 * system writes:
 *  - the file itself is not a symbolic link (never followed), is a regular
 *    file, belongs to our effective uid and has one link (a second name
 *    could be a link another user made to a file of ours where
 *    fs.protected_hardlinks is off);
 *  - the directory that holds it belongs to us or to root, and if others
 *    (not the group) may write it, it has the sticky bit (/tmp): there no
 *    one else can rename or remove a file of ours, so a name checked once
 *    keeps meaning the same file;
 *  - no symbolic link along the path belongs to another user (root's are
 *    trusted): such a link lets its owner choose where our file lands.
 * A refused file is ENS_EUNSAFE with a one-line reason.
 */
#ifndef ENS_CORE_FILES_H
#define ENS_CORE_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Check the path to the file at path (borrowed): no symbolic link of
 * another user along it, and the directory that holds the file as the rule
 * says. Returns 0, ENS_ENOENT (the directory does not exist, or a part of
 * its path is not a directory), ENS_EUNSAFE,
 * ENS_EIO (cannot be looked at); why (may be NULL) gets the reason. */
int ens__file_dir_check(const char *path, char *why, size_t why_len);

/* Check st, the lstat() of path, as a file we may write: not a symbolic
 * link, regular, owned by `owner`, one link. Returns 0 or ENS_EUNSAFE with
 * the reason in why (may be NULL). */
int ens__file_stat_check(const char *path, const struct stat *st, uid_t owner, char *why,
                         size_t why_len);

/* lstat path and check it as ens__file_stat_check does; a missing file is
 * fine (0, *exists false). Returns 0, ENS_EUNSAFE, ENS_EIO. exists may be
 * NULL. */
int ens__file_check(const char *path, uid_t owner, bool *exists, char *why, size_t why_len);

/* Open the log file at path for appending (created mode 0600), after the
 * directory check. The opened file must pass ens__file_stat_check for our
 * uid (checked on the descriptor, so nothing can change between check and
 * use), or be /dev/null (a log thrown away). *fd is close-on-exec and
 * blocking. Errors: ENS_ENOENT (no such directory), ENS_EUNSAFE, ENS_EIO;
 * why (may be NULL) says which check failed. */
int ens__file_open_log(const char *path, int *fd, char *why, size_t why_len);

/* Create the file at path, empty, mode 0600, unless a name is there
 * already (no link followed); then check what is at path as
 * ens__file_check does, for our uid. Returns 0, ENS_EUNSAFE, ENS_EIO
 * (ENS_ENOENT if the directory is missing). */
int ens__file_create_private(const char *path, char *why, size_t why_len);

/* Create the missing directories above the file at path, mode 0700 (the
 * file's own directory included). Returns 0 or ENS_EIO (one cannot be
 * made, or a name on the way is not a directory). */
int ens__file_make_parent_dirs(const char *path);

#endif

/*
 * tests/test_door.c - how programs reach a named system, and who may
 * (core/process/proc_door.h): the socket lives in a private runtime directory and
 * goes when the system ends; an unsafe runtime directory is refused; a
 * stale socket of a killed system does not block a start; another user who
 * takes the abstract name first neither stops a start nor is ever talked
 * to; another user's system is refused; refused connections do not flood
 * the log; connections by name are capped and a silent one is closed.
 * The tests that need a second user run as root (uid 65534) and skip
 * otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/echo.h"
#include "support/procfs.h"
#include "support/squat.h"

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "ensemble/ensemble.h"
#include "support/scratch.h"

#define WAIT_MS   30000
#define FLOOD     2000 /* connections from another user */
#define MAX_CONNS 4

static const ens_actor_def echo_def = {"door.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,        NULL, NULL};

/* ---- what every test may leave behind, cleaned up by teardown ---- */

static ens_system *started;
static ens_system *conns[MAX_CONNS + 2];
static test_squatter squat = {0, -1};
static char tmp_dir[64];
static pid_t other_pid; /* a process of the other user, if any */
static int other_ctl = -1;

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
        ens_system_close(conns[i], 1000);
        conns[i] = NULL;
    }
    if (started != NULL)
        ens_system_stop(started, 5000);
    started = NULL;
    test_squat_end(&squat);
    if (other_ctl >= 0)
        close(other_ctl); /* the other user's program stops its system */
    other_ctl = -1;
    if (other_pid > 0) {
        if (!test_gone_within((int)other_pid, WAIT_MS))
            kill(other_pid, SIGKILL);
        waitpid(other_pid, NULL, 0);
    }
    other_pid = 0;
    unsetenv("XDG_RUNTIME_DIR");
    if (tmp_dir[0] != '\0') {
        chmod(tmp_dir, 0700);
        test_tree_remove(tmp_dir);
    }
    tmp_dir[0] = '\0';
    return 0;
}

static void unique_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "test-door-%s-%d", what, (int)getpid());
}

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ens-door-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
}

static ens_system_opts opts_for(const char *name)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    return o;
}

static void expect_echo(ens_system *s, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(s), to, &ens_msg_string, &(ens_string_v){(char *)text}, WAIT_MS, &r),
        0);
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    assert_non_null(v);
    assert_string_equal(v->text, text);
    ens_msg_free(r);
}

/* The whole of file path (caller frees); "" if it does not exist. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    if (f != NULL) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fwrite(chunk, 1, n, m);
        fclose(f);
    }
    fclose(m);
    return buf;
}

/* Wait up to WAIT_MS for needle to appear in file path. */
static bool file_gets(const char *path, const char *needle)
{
    uint64_t deadline = ens__mono_ns() + (uint64_t)WAIT_MS * 1000000u;
    for (;;) {
        char *text = slurp(path);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
        if (ens__mono_ns() >= deadline)
            return false;
        poll(NULL, 0, 50);
    }
}

static void socket_path(const char *name, char *path, size_t len)
{
    struct sockaddr_un sa;
    assert_true(ens__system_pathaddr(name, &sa) > 0);
    snprintf(path, len, "%s", sa.sun_path);
}

/* ---- where the socket lives ---- */

static void test_socket_lives_in_a_private_directory(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "path");
    ens_system_opts o = opts_for(name);
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);

    char dir[108], path[200];
    assert_int_equal(ens__rundir(dir, sizeof(dir), false, NULL, 0), 0);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_mode & 0777, 0700);
    socket_path(name, path, sizeof(path));
    assert_int_equal(strncmp(path, dir, strlen(dir)), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));

    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    expect_echo(conns[0], echo, "through the path socket");
    ens_status *s = NULL;
    assert_int_equal(ens_system_status(started, WAIT_MS, &s), 0);
    int admin = ens_status_admin_pid(s);
    ens_status_free(s);
    int uid = -1, pid = -1;
    assert_int_equal(ens_system_holder(name, &uid, &pid), 0);
    assert_int_equal(uid, (int)geteuid());
    assert_int_equal(pid, admin);

    assert_int_equal(ens_system_close(conns[0], WAIT_MS), 0);
    conns[0] = NULL;
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;
    /* The admin removed it as it ended. */
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(ens_system_holder(name, &uid, &pid), ENS_ENOENT);
}

static void test_persistent_admin_removes_its_socket(void **state)
{
    (void)state;
    char name[64], path[200];
    unique_name(name, sizeof(name), "persist");
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ens_system_opts o = opts_for(name);
    o.persistent = true;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_status *s = NULL;
    assert_int_equal(ens_system_status(started, WAIT_MS, &s), 0);
    pid_t admin = ens_status_admin_pid(s);
    ens_status_free(s);
    /* The starter lets go: the admin holds the socket on. */
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;
    socket_path(name, path, sizeof(path));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    assert_int_equal(ens_system_stop(conns[0], WAIT_MS), 0);
    conns[0] = NULL;
    assert_true(test_gone_within((int)admin, WAIT_MS));
    assert_int_equal(waitpid(admin, NULL, 0), admin);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_unsafe_runtime_dir_is_refused(void **state)
{
    (void)state;
    char name[64], sub[128], real[128], log[128];
    unique_name(name, sizeof(name), "rundir");
    make_tmp_dir();
    assert_int_equal(setenv("XDG_RUNTIME_DIR", tmp_dir, 1), 0);
    snprintf(sub, sizeof(sub), "%s/ensemble", tmp_dir);
    snprintf(real, sizeof(real), "%s/real", tmp_dir);
    snprintf(log, sizeof(log), "%s/log", tmp_dir);
    ens_system_opts o = opts_for(name);
    o.log_path = log;
    ens_system *s = NULL;

    /* Readable by others. */
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0755), 0);
    assert_int_equal(ens_system_start(&o, &s), ENS_EACCES);
    assert_true(file_gets(log, "has mode 0755, not 0700"));
    assert_int_equal(chmod(sub, 0700), 0);
    /* Someone else's (made before us, as in /tmp). */
    if (geteuid() == 0) {
        assert_int_equal(chown(sub, TEST_OTHER_UID, TEST_OTHER_UID), 0);
        assert_int_equal(ens_system_start(&o, &s), ENS_EACCES);
        assert_true(file_gets(log, "belongs to uid 65534"));
        char why[160];
        assert_int_equal(ens__rundir_check(sub, true, why, sizeof(why)), ENS_EACCES);
        assert_non_null(strstr(why, "uid 65534"));
    }
    assert_int_equal(rmdir(sub), 0);
    /* A symlink to a good directory. */
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(symlink(real, sub), 0);
    assert_int_equal(ens_system_start(&o, &s), ENS_EACCES);
    assert_true(file_gets(log, "is a symbolic link"));
    assert_int_equal(unlink(sub), 0);
    /* Not a directory. */
    int fd = open(sub, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ens_system_start(&o, &s), ENS_EACCES);
    assert_true(file_gets(log, "is not a directory"));
    assert_int_equal(unlink(sub), 0);
    assert_null(s);

    /* None yet: made, private, and used. */
    assert_int_equal(ens_system_start(&o, &started), 0);
    struct stat st;
    assert_int_equal(lstat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    char path[200], expect[200];
    socket_path(name, path, sizeof(path));
    snprintf(expect, sizeof(expect), "%s/%s", sub, name);
    assert_string_equal(path, expect);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    assert_int_equal(ens_system_close(conns[0], WAIT_MS), 0);
    conns[0] = NULL;
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;

    /* An XDG_RUNTIME_DIR others can write is not used at all. */
    assert_int_equal(chmod(tmp_dir, 0777), 0);
    char dir[108];
    ens__rundir(dir, sizeof(dir), false, NULL, 0);
    assert_int_not_equal(strncmp(dir, tmp_dir, strlen(tmp_dir)), 0);
}

static void test_stale_socket_is_replaced(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "stale");
    char dir[108];
    assert_int_equal(ens__rundir(dir, sizeof(dir), true, NULL, 0), 0);
    /* What a killed system leaves: a socket file nobody listens on. */
    struct sockaddr_un sa;
    int len = ens__system_pathaddr(name, &sa);
    assert_true(len > 0);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, (socklen_t)len), 0);
    close(fd);
    struct stat st;
    assert_int_equal(lstat(sa.sun_path, &st), 0);

    ens_system_opts o = opts_for(name);
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);
    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    expect_echo(conns[0], echo, "past the stale socket");
    /* A live one is not stale: the name is taken. */
    ens_system *twin = NULL;
    assert_int_equal(ens_system_start(&o, &twin), ENS_EEXIST);
    expect_echo(conns[0], echo, "the first one still answers");

    /* An unnamed system of a program that is gone left its socket: no
     * start will take that name again, so any start removes it. */
    fflush(NULL);
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    char unnamed[64];
    snprintf(unnamed, sizeof(unnamed), "pid%d-1", (int)gone);
    len = ens__system_pathaddr(unnamed, &sa);
    assert_true(len > 0);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, (socklen_t)len), 0);
    close(fd);
    ens_system_opts anon = opts_for(NULL);
    assert_int_equal(ens_system_start(&anon, &twin), 0);
    assert_int_equal(lstat(sa.sun_path, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(ens_system_close(twin, WAIT_MS), 0);
}

/* ---- another user at the name ---- */

static void test_squatted_abstract_name_does_not_stop_a_start(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    char name[64], log[128];
    unique_name(name, sizeof(name), "squat");
    struct sockaddr_un sa;
    int len = ens__system_sockaddr(name, &sa);
    assert_true(test_squat(&sa, (socklen_t)len, &squat));

    make_tmp_dir();
    snprintf(log, sizeof(log), "%s/log", tmp_dir);
    ens_system_opts o = opts_for(name);
    o.log_path = log;
    o.log_level = ENS_LOG_WARN;
    assert_int_equal(ens_system_start(&o, &started), 0);
    assert_true(file_gets(log, "is held by uid 65534"));
    /* The start looked at who holds it and said nothing to it. */
    assert_int_equal(test_squat_next(&squat, WAIT_MS), 0);

    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);
    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    expect_echo(conns[0], echo, "the real system");
    int uid = -1;
    assert_int_equal(ens_system_holder(name, &uid, NULL), 0);
    assert_int_equal(uid, (int)geteuid());

    /* A program whose environment names another runtime directory looks
     * there first, then in the others: it still finds the system, and a
     * second start there still finds the name taken. */
    assert_int_equal(setenv("XDG_RUNTIME_DIR", tmp_dir, 1), 0);
    assert_int_equal(ens_system_connect(name, &conns[1]), 0);
    expect_echo(conns[1], echo, "from another environment");
    ens_system *twin = NULL;
    assert_int_equal(ens_system_start(&o, &twin), ENS_EEXIST);
    assert_true(file_gets(log, "started with another runtime directory"));
}

static void test_squatted_name_of_a_stopped_system_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    char name[64];
    unique_name(name, sizeof(name), "gone");
    ens_system_opts o = opts_for(name);
    assert_int_equal(ens_system_start(&o, &started), 0);
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;
    struct sockaddr_un sa;
    int len = ens__system_sockaddr(name, &sa);
    assert_true(test_squat(&sa, (socklen_t)len, &squat));

    assert_int_equal(ens_system_connect(name, &conns[0]), ENS_EPEERCRED);
    assert_null(conns[0]);
    assert_int_equal(test_squat_next(&squat, WAIT_MS), 0); /* nothing was sent */
    int uid = -1, pid = -1;
    assert_int_equal(ens_system_holder(name, &uid, &pid), 0);
    assert_int_equal(uid, TEST_OTHER_UID);
    assert_int_equal(pid, (int)squat.pid);
    assert_int_equal(test_squat_next(&squat, WAIT_MS), 0);
}

/* In a child: become the other user, start a system called name, send
 * its two addresses on fd, wait for fd to close, stop the system. */
_Noreturn static void other_user_system(const char *name, int fd)
{
    if (setgid(TEST_OTHER_UID) != 0 || setuid(TEST_OTHER_UID) != 0)
        _exit(10);
    ens_system_opts o = opts_for(name);
    ens_system *s = NULL;
    if (ens_system_start(&o, &s) != 0)
        _exit(11);
    struct sockaddr_un addr[2];
    int len[2];
    len[0] = ens__system_pathaddr(name, &addr[0]);
    len[1] = ens__system_sockaddr(name, &addr[1]);
    if (write(fd, len, sizeof(len)) != sizeof(len) || write(fd, addr, sizeof(addr)) != sizeof(addr))
        _exit(12);
    char c;
    while (read(fd, &c, 1) > 0)
        ;
    _exit(ens_system_close(s, WAIT_MS) == 0 ? 0 : 13);
}

static void test_system_of_another_user_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    char name[64];
    unique_name(name, sizeof(name), "theirs");
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fflush(NULL);
    other_pid = fork();
    assert_true(other_pid >= 0);
    if (other_pid == 0) {
        close(sv[0]);
        other_user_system(name, sv[1]);
    }
    close(sv[1]);
    other_ctl = sv[0];
    int len[2];
    struct sockaddr_un addr[2];
    struct pollfd p = {.fd = other_ctl, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    assert_int_equal(read(other_ctl, len, sizeof(len)), (ssize_t)sizeof(len));
    assert_int_equal(read(other_ctl, addr, sizeof(addr)), (ssize_t)sizeof(addr));
    assert_true(len[0] > 0 && len[1] > 0);
    /* Both of its addresses, as this user's program would meet them. */
    for (int i = 0; i < 2; i++) {
        int fd = -1;
        ens_peer who;
        assert_int_equal(ens__door_connect_addr(&addr[i], (socklen_t)len[i], false, &fd, &who),
                         ENS_EPEERCRED);
        assert_int_equal(fd, -1);
        assert_int_equal(who.uid, TEST_OTHER_UID);
        assert_true(who.pid > 0);
    }
    /* Our own name is not theirs: nobody of ours runs it. */
    assert_int_equal(ens_system_connect(name, &conns[0]), ENS_ENOENT);
    close(other_ctl);
    other_ctl = -1;
    int status = 0;
    assert_true(test_gone_within((int)other_pid, WAIT_MS));
    assert_int_equal(waitpid(other_pid, &status, 0), other_pid);
    other_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- refused connections and the log ---- */

/* In a child: as the other user, connect FLOOD times to sa, each time
 * waiting for the admin to close the connection unanswered. */
_Noreturn static void flood_connections(const struct sockaddr_un *sa, socklen_t len)
{
    if (setgid(TEST_OTHER_UID) != 0 || setuid(TEST_OTHER_UID) != 0)
        _exit(10);
    for (int i = 0; i < FLOOD; i++) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)sa, len) != 0)
            _exit(11);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c;
        if (poll(&p, 1, WAIT_MS) != 1 || recv(fd, &c, 1, 0) != 0)
            _exit(12); /* not closed, or told something */
        close(fd);
    }
    _exit(0);
}

static void test_refused_connections_do_not_flood_the_log(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    char name[64], log[128];
    unique_name(name, sizeof(name), "flood");
    make_tmp_dir();
    snprintf(log, sizeof(log), "%s/log", tmp_dir);
    ens_system_opts o = opts_for(name);
    o.log_path = log;
    o.log_level = ENS_LOG_WARN;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);
    struct sockaddr_un sa;
    int len = ens__system_sockaddr(name, &sa);
    uint64_t t0 = ens__mono_ns();
    fflush(NULL);
    other_pid = fork();
    assert_true(other_pid >= 0);
    if (other_pid == 0)
        flood_connections(&sa, (socklen_t)len);
    int status = 0;
    assert_true(test_gone_within((int)other_pid, 4 * WAIT_MS));
    assert_int_equal(waitpid(other_pid, &status, 0), other_pid);
    other_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    double flood_s = (double)(ens__mono_ns() - t0) / 1e9;
    expect_echo(started, echo, "served through the flood");

    /* The count of the ones not logged comes when their window ends. */
    assert_true(file_gets(log, "more connection(s) from uid 65534"));
    char *text = slurp(log);
    size_t bytes = strlen(text);
    print_message("%s", text);
    long total = 0, lines = 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        if (strstr(line, "uid 65534") != NULL) {
            lines++;
            const char *more = strstr(line, "refused ");
            unsigned long n = 0;
            if (strstr(line, "refused a connection from uid 65534") != NULL)
                total += 1;
            else if (more != NULL && sscanf(more, "refused %lu more", &n) == 1)
                total += (long)n;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    print_message("# %d refused connections from another uid in %.2f s: %ld log line(s), log %zu "
                  "bytes\n",
                  FLOOD, flood_s, lines, bytes);
    free(text);
    assert_int_equal(total, FLOOD);
    assert_true(lines <= 1 + (long)(flood_s / (ENS_REFUSAL_WINDOW_MS / 1000.0)) + 2);
}

/* ---- the number of connections ---- */

/* A raw connection to system name's path socket that never answers the
 * hello. */
static int silent_connection(const char *name)
{
    struct sockaddr_un sa;
    int len = ens__system_pathaddr(name, &sa);
    assert_true(len > 0);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, (socklen_t)len), 0);
    return fd;
}

/* Read (and drop) what the admin sends on fd until it closes it: true if
 * it did within WAIT_MS. */
static bool closed_by_admin(int fd)
{
    uint64_t deadline = ens__mono_ns() + (uint64_t)WAIT_MS * 1000000u;
    for (;;) {
        uint64_t now = ens__mono_ns();
        if (now >= deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = ens__ctl_recv(fd, &m, fds, &nfds);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        ens_msg_free(m);
        if (rc == ENS_EIO)
            return true;
    }
}

static void test_connections_are_capped(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "cap");
    ens_system_opts o = opts_for(name);
    o.max_connections = MAX_CONNS;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);
    for (int i = 0; i < MAX_CONNS; i++)
        assert_int_equal(ens_system_connect(name, &conns[i]), 0);
    ens_system *extra = NULL;
    assert_int_equal(ens_system_connect(name, &extra), ENS_ETOOMANY);
    assert_int_equal(ens_system_connect(name, &extra), ENS_ETOOMANY);
    assert_null(extra);
    /* Those in, and the actors, work on. */
    expect_echo(started, echo, "the starter");
    expect_echo(conns[MAX_CONNS - 1], echo, "the last one in");
    ens_addr more;
    assert_int_equal(ens_spawn(ens_system_ctx(conns[0]), &echo_def, NULL, NULL, &more), 0);
    expect_echo(started, more, "a new actor");

    /* Two leave: two get in again (once the admin has seen them go). */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ens_system_close(conns[i], WAIT_MS), 0);
        conns[i] = NULL;
    }
    uint64_t deadline = ens__mono_ns() + (uint64_t)WAIT_MS * 1000000u;
    for (int i = 0; i < 2; i++) {
        int rc;
        while ((rc = ens_system_connect(name, &conns[i])) == ENS_ETOOMANY &&
               ens__mono_ns() < deadline)
            poll(NULL, 0, 10);
        assert_int_equal(rc, 0);
    }
    expect_echo(conns[0], echo, "back in");
    assert_int_equal(ens_system_connect(name, &extra), ENS_ETOOMANY);
}

static void test_silent_connection_is_closed(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "silent");
    ens_system_opts o = opts_for(name);
    o.max_connections = 2;
    o.call_timeout_ms = 2000; /* how long a connection may stay silent */
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);

    int silent = silent_connection(name);
    assert_int_equal(ens_system_connect(name, &conns[0]), 0);
    ens_system *extra = NULL;
    assert_int_equal(ens_system_connect(name, &extra), ENS_ETOOMANY);
    bool closed = closed_by_admin(silent);
    close(silent);
    assert_true(closed);
    /* Another silent one, accepted after conns[0]: once it is closed, the
     * deadline conns[0] had is long past, and conns[0] (which answered
     * the hello) is still served. */
    silent = silent_connection(name);
    closed = closed_by_admin(silent);
    close(silent);
    assert_true(closed);
    expect_echo(conns[0], echo, "answered the hello");
    assert_int_equal(ens_system_connect(name, &conns[1]), 0);
    expect_echo(conns[1], echo, "in the freed place");
}

int main(void)
{
    if (ens_actor_register(&echo_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_socket_lives_in_a_private_directory, teardown),
        cmocka_unit_test_teardown(test_persistent_admin_removes_its_socket, teardown),
        cmocka_unit_test_teardown(test_unsafe_runtime_dir_is_refused, teardown),
        cmocka_unit_test_teardown(test_stale_socket_is_replaced, teardown),
        cmocka_unit_test_teardown(test_squatted_abstract_name_does_not_stop_a_start, teardown),
        cmocka_unit_test_teardown(test_squatted_name_of_a_stopped_system_is_refused, teardown),
        cmocka_unit_test_teardown(test_system_of_another_user_is_refused, teardown),
        cmocka_unit_test_teardown(test_refused_connections_do_not_flood_the_log, teardown),
        cmocka_unit_test_teardown(test_connections_are_capped, teardown),
        cmocka_unit_test_teardown(test_silent_connection_is_closed, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

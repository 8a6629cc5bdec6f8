/*
 * tests/test_log_file.c - where a system's log lines go (ens_system_opts
 * log_target, log_max_bytes): a named process-base system writes the file
 * beside its journal ($XDG_STATE_HOME/ensemble/NAME.log) with every field
 * of a line, keeps it bounded with one older part NAME.log.1, writes
 * syslog instead when asked, and holds the default file to the rule of
 * core/runtime/files.h (a planted link is refused, another user cannot
 * read it). An unnamed system writes stderr as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/actor.h"
#include "ensemble/error.h"
#include "ensemble/msg.h"
#include "ensemble/status.h"
#include "ensemble/system.h"
#include "support/deadline.h"
#include "support/scratch.h"

#define WAIT_MS 30000u

typedef struct fixture {
    char dir[64];
    char name[48];
    char log[192], older[200];
    char victim[192];
} fixture;

static int setup(void **state)
{
    static unsigned seq;
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_logf_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(setenv("XDG_STATE_HOME", fx->dir, 1), 0);
    snprintf(fx->name, sizeof(fx->name), "logf-%d-%u", (int)getpid(), ++seq);
    snprintf(fx->log, sizeof(fx->log), "%s/ensemble/%s.log", fx->dir, fx->name);
    snprintf(fx->older, sizeof(fx->older), "%s.1", fx->log);
    snprintf(fx->victim, sizeof(fx->victim), "%s/victim", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

/* "log": one warning whose text has control characters; "spam N": N lines;
 * "pid": its pid. */
static int talker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "log") == 0) {
        ens_log(c, ENS_LOG_WARN, "said\nby the \x1b[31mtalker");
        ens_log(c, ENS_LOG_DEBUG, "a line below the level");
    } else if (strncmp(s->text, "spam ", 5) == 0) {
        int n = atoi(s->text + 5);
        for (int i = 0; i < n; i++)
            ens_log(c, ENS_LOG_WARN, "spam line %d of %d, padded to be about a hundred bytes long",
                    i, n);
    }
    return ens_reply(c, &ens_msg_int64, &(ens_int64_v){(int64_t)getpid()});
}

static const ens_actor_def talker_def = {"logf.Talker", 0,    NULL, talker_receive, NULL, NULL,
                                         NULL,          NULL, NULL};

static int64_t ask(ens_system *s, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    int rc =
        ens_ask(ens_system_ctx(s), to, &ens_msg_string, &(ens_string_v){(char *)text}, WAIT_MS, &r);
    if (rc != 0)
        fail_msg("ask %s: %s", text, ens_err_name(rc));
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    int64_t x = v->value;
    ens_msg_free(r);
    return x;
}

static ens_system *start(const fixture *fx, ens_system_opts *o)
{
    o->name = fx->name;
    o->base = ENS_BASE_PROCESS;
    o->journal_path = "";
    ens_system *s = NULL;
    int rc = ens_system_start(o, &s);
    if (rc != 0)
        fail_msg("start %s: %s", fx->name, ens_err_name(rc));
    return s;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The file at path once it holds needle (waits: the admin writes lines
 * in its own time), or a failure. Owned by the caller. */
static char *wait_for_text(const char *path, const char *needle)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        char *text = slurp(path);
        if (text != NULL && strstr(text, needle) != NULL)
            return text;
        if (test_deadline_passed(d))
            fail_msg("%s never held \"%s\"; it has:\n%s", path, needle,
                     text != NULL ? text : "(no file)");
        free(text);
        test_nap_ms(20);
    }
}

/* The line of text that holds needle, copied into out. */
static void line_with(const char *text, const char *needle, char *out, size_t len)
{
    const char *at = strstr(text, needle);
    assert_non_null(at);
    const char *bol = at;
    while (bol > text && bol[-1] != '\n')
        bol--;
    size_t n = strcspn(bol, "\n");
    assert_true(n < len);
    memcpy(out, bol, n);
    out[n] = '\0';
}

/* TIME is UTC ISO-8601 with milliseconds: 2026-12-07T18:32:59.123Z. */
static void assert_time_field(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        bool ok = shape[i] == 'd' ? line[i] >= '0' && line[i] <= '9' : line[i] == shape[i];
        if (!ok)
            fail_msg("no time at the start of \"%s\" (at %zu)", line, i);
    }
}

static void assert_private_file(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_named_system_writes_every_field_to_its_default_file(void **state)
{
    fixture *fx = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_INFO;
    ens_system *s = start(fx, &o);
    assert_non_null(ens_system_options(s)->log_path);
    assert_string_equal(ens_system_options(s)->log_path, fx->log);
    assert_int_equal(ens_system_options(s)->log_target, ENS_LOG_TO_FILE);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    int64_t pid = ask(s, a, "log");
    assert_true(pid > 0 && pid != getpid());
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(a, addr, sizeof(addr));
    char want[256], line[1024];
    snprintf(want, sizeof(want), "WARN  [%s] %lld logf.Talker %s: said\\nby the \\x1b[31mtalker",
             fx->name, (long long)pid, addr);
    char *text = wait_for_text(fx->log, want);
    line_with(text, want, line, sizeof(line));
    assert_time_field(line);
    assert_string_equal(line + 25, want);
    assert_null(strstr(text, "below the level"));
    free(text);
    /* The actor's process killed: the admin logs the crash as its own line. */
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    char crash[128];
    snprintf(crash, sizeof(crash), ": crash: actor %s (logf.Talker)", addr);
    text = wait_for_text(fx->log, crash);
    line_with(text, crash, line, sizeof(line));
    assert_time_field(line);
    char head[128];
    snprintf(head, sizeof(head), "WARN  [%s] ", fx->name);
    assert_memory_equal(line + 25, head, strlen(head));
    /* PID is the admin's (not ours, not the actor's), WHO its role. */
    char *end = NULL;
    long admin = strtol(line + 25 + strlen(head), &end, 10);
    assert_true(admin > 0 && admin != getpid() && admin != pid);
    char role[64];
    char *colon = strchr(addr, '/');
    assert_non_null(colon);
    snprintf(role, sizeof(role), " admin %.*s/1: crash", (int)(colon - addr), addr);
    if (strncmp(end, role, strlen(role)) != 0)
        fail_msg("the admin's line does not name its role and address (\"%s\"): %s", role, line);
    free(text);
    assert_private_file(fx->log);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
}

static void test_rotation_keeps_one_older_part_and_bounds_the_size(void **state)
{
    fixture *fx = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_max_bytes = 4096;
    ens_system *s = start(fx, &o);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    ask(s, a, "spam 300"); /* about 50 KiB: a dozen rotations */
    char *text = wait_for_text(fx->log, "spam line 299 of 300");
    free(text);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    struct stat st;
    char third[224];
    snprintf(third, sizeof(third), "%s.2", fx->log);
    assert_int_equal(stat(third, &st), -1);
    for (int i = 0; i < 2; i++) {
        const char *path = i == 0 ? fx->log : fx->older;
        assert_private_file(path);
        assert_int_equal(stat(path, &st), 0);
        /* Past the bound by at most the one line that took it there. */
        if (st.st_size > 4096 + 512)
            fail_msg("%s holds %lld bytes, bound 4096", path, (long long)st.st_size);
    }
    assert_int_equal(stat(fx->older, &st), 0);
    assert_true(st.st_size > 4096);
    /* The older part holds the lines just before the newer one's. */
    char *older = slurp(fx->older);
    char *newer = slurp(fx->log);
    assert_non_null(older);
    assert_non_null(newer);
    int last_old = -1, first_new = -1;
    for (const char *p = older; (p = strstr(p, "spam line ")) != NULL; p++)
        last_old = atoi(p + 10);
    const char *p = strstr(newer, "spam line ");
    if (p != NULL)
        first_new = atoi(p + 10);
    assert_true(last_old >= 0 && first_new == last_old + 1);
    free(older);
    free(newer);
}

static void test_syslog_target_is_accepted_and_writes_no_file(void **state)
{
    fixture *fx = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_target = ENS_LOG_TO_SYSLOG;
    ens_system *s = start(fx, &o);
    assert_int_equal(ens_system_options(s)->log_target, ENS_LOG_TO_SYSLOG);
    assert_null(ens_system_options(s)->log_path);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    ask(s, a, "log");
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    struct stat st;
    assert_int_equal(lstat(fx->log, &st), -1);
    assert_int_equal(errno, ENOENT);

    /* A log_path contradicts log_target syslog or stderr. */
    ens_system_opts bad = ENS_SYSTEM_OPTS_INIT;
    bad.log_target = ENS_LOG_TO_STDERR;
    bad.log_path = fx->log;
    s = NULL;
    assert_int_equal(ens_system_start(&bad, &s), ENS_EINVAL);
    assert_null(s);
    bad.log_target = 42;
    bad.log_path = NULL;
    assert_int_equal(ens_system_start(&bad, &s), ENS_EINVAL);
    /* File without a name or a path has no file to write. */
    bad.log_target = ENS_LOG_TO_FILE;
    assert_int_equal(ens_system_start(&bad, &s), ENS_EINVAL);
    assert_null(s);
}

static void test_unnamed_system_writes_no_file(void **state)
{
    fixture *fx = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    assert_int_equal(ens_system_options(s)->log_target, ENS_LOG_TO_STDERR);
    assert_null(ens_system_options(s)->log_path);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
}

/* A default place that cannot be used (here "ensemble" is a file, as with
 * another user's XDG_STATE_HOME) is no reason to refuse the system: it
 * logs to stderr. */
static void test_default_file_out_of_reach_falls_back_to_stderr(void **state)
{
    fixture *fx = *state;
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    fclose(f);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_ERROR; /* the warning that says so is not for the test's output */
    ens_system *s = start(fx, &o);
    assert_int_equal(ens_system_options(s)->log_target, ENS_LOG_TO_STDERR);
    assert_null(ens_system_options(s)->log_path);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    /* Asked for explicitly, the file is required. */
    o = (ens_system_opts)ENS_SYSTEM_OPTS_INIT;
    o.name = fx->name;
    o.journal_path = "";
    o.log_target = ENS_LOG_TO_FILE;
    o.log_level = ENS_LOG_ERROR;
    s = NULL;
    assert_int_equal(ens_system_start(&o, &s), ENS_EIO);
    assert_null(s);
}

static void make_victim(const fixture *fx)
{
    FILE *v = fopen(fx->victim, "w");
    assert_non_null(v);
    fputs("precious\n", v);
    fclose(v);
}

static void assert_victim_unchanged(const fixture *fx)
{
    char *text = slurp(fx->victim);
    assert_non_null(text);
    assert_string_equal(text, "precious\n");
    free(text);
}

static void test_symlinked_default_log_is_refused(void **state)
{
    fixture *fx = *state;
    make_victim(fx);
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink(fx->victim, fx->log), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = fx->name;
    o.journal_path = "";
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), ENS_EUNSAFE);
    assert_null(s);
    assert_victim_unchanged(fx);
}

static void test_symlinked_older_part_is_not_replaced(void **state)
{
    fixture *fx = *state;
    make_victim(fx);
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink(fx->victim, fx->older), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_max_bytes = 2048;
    ens_system *s = start(fx, &o);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    ask(s, a, "spam 100");
    char *text = wait_for_text(fx->log, "spam line 99 of 100");
    /* Emptied instead of rotated, and it says why. */
    assert_non_null(strstr(text, "was emptied"));
    free(text);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    struct stat st;
    assert_int_equal(lstat(fx->older, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(fx->log, &st), 0);
    assert_true(st.st_size <= 2048 + 1024);
    assert_victim_unchanged(fx);
}

/* Attack: another local user reads a system's log (what its actors say).
 * The default file is created mode 0600: even with the directories opened
 * to others, uid 65534 cannot open it. */
static void test_another_user_cannot_read_the_log(void **state)
{
    fixture *fx = *state;
    if (geteuid() != 0) {
        print_message("needs root to become another user: skipped\n");
        skip();
    }
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    ens_system *s = start(fx, &o);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    ask(s, a, "log");
    free(wait_for_text(fx->log, "talker"));
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        struct stat st;
        if (stat(fx->log, &st) != 0)
            _exit(4); /* the directories are open: only the file's mode may refuse */
        int fd = open(fx->log, O_RDONLY);
        _exit(fd < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Two processes of a system past the bound at once rotate once: the one
 * that renames holds a record lock on the file's first byte, and a
 * process that cannot take it writes on without rotating. Shown from
 * outside: while another program holds that lock, the file grows past
 * its bound and no older part appears (the lock is never waited for, so
 * the lines are all there); once it is released the next line rotates. */
static void test_rotation_is_one_process_at_a_time_and_never_waits(void **state)
{
    fixture *fx = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_max_bytes = 4096;
    ens_system *s = start(fx, &o);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &a), 0);
    ask(s, a, "spam 5");
    free(wait_for_text(fx->log, "spam line 4 of 5"));
    int locked[2], release[2];
    assert_int_equal(pipe(locked), 0);
    assert_int_equal(pipe(release), 0);
    pid_t holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        close(locked[0]);
        close(release[1]);
        int fd = open(fx->log, O_RDWR);
        struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        if (fd < 0 || fcntl(fd, F_SETLKW, &lk) != 0)
            _exit(1);
        char one = 'L';
        if (write(locked[1], &one, 1) != 1)
            _exit(2);
        (void)read(release[0], &one, 1); /* until the test closes its end, or dies */
        _exit(0);
    }
    close(locked[1]);
    close(release[0]);
    char got = 0;
    assert_int_equal(read(locked[0], &got, 1), 1);
    ask(s, a, "spam 100"); /* about 10 KiB */
    free(wait_for_text(fx->log, "spam line 99 of 100"));
    struct stat st;
    assert_int_equal(stat(fx->older, &st), -1);
    assert_int_equal(stat(fx->log, &st), 0);
    assert_true(st.st_size > 4096);
    close(release[1]);
    int status = 0;
    assert_int_equal(waitpid(holder, &status, 0), holder);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(locked[0]);
    ask(s, a, "spam 3");
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    assert_int_equal(stat(fx->older, &st), 0);
    char *older = slurp(fx->older);
    assert_non_null(older);
    assert_non_null(strstr(older, "spam line 99 of 100"));
    free(older);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_named_system_writes_every_field_to_its_default_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_keeps_one_older_part_and_bounds_the_size,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_is_one_process_at_a_time_and_never_waits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_target_is_accepted_and_writes_no_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unnamed_system_writes_no_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_file_out_of_reach_falls_back_to_stderr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_symlinked_default_log_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinked_older_part_is_not_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_another_user_cannot_read_the_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

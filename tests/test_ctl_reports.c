/*
 * tests/test_ctl_reports.c - what a program may report to the admin of a
 * process-base system (core/process/proc.h, "What a control peer may report").
 *
 * A raw client connects to the system's socket as a program connected by
 * name would, and sends well-formed control frames that lie: an event of a
 * kind that does not exist, an event about another actor, a log line with
 * a newline that would forge a line of its own, dead letters whose frame
 * header cannot be read. The journal must hold no such event, only a
 * BADFRAME row about the sender for each, and the log no forged line; an
 * event the client may report (about itself) is kept. An actor's own log
 * line with a newline in it stays one line.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/proc.h"
#include "core/wire/frame.h"
#include "ensemble/ensemble.h"
#include "support/journal_files.h"
#include "support/rawconn.h"

#define WAIT_MS 30000

/* "log TEXT": log TEXT at ERROR; answers "logged". */
static int logger_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL || strncmp(s->text, "log ", 4) != 0)
        return 0;
    ens_log(c, ENS_LOG_ERROR, "%s", s->text + 4);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){"logged"});
}

static const ens_actor_def logger_def = {
    "ctlreports.Logger", 0, NULL, logger_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct fixture {
    ens_system *sys;
    char name[64], db[128], log[128];
    ens_addr logger;
} fixture;

static void unlink_all(const fixture *f)
{
    test_journal_remove(f->db);
    unlink(f->log);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->name, sizeof(f->name), "ctlreports-%d", (int)getpid());
    snprintf(f->db, sizeof(f->db), "ctlreports-%d.db", (int)getpid());
    snprintf(f->log, sizeof(f->log), "ctlreports-%d.log", (int)getpid());
    unlink_all(f);
    *state = f;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = f->name;
    o.journal_path = f->db;
    o.log_path = f->log;
    if (ens_system_start(&o, &f->sys) != 0)
        return -1;
    if (ens_spawn(ens_system_ctx(f->sys), &logger_def, NULL, NULL, &f->logger) != 0) {
        ens_system_close(f->sys, WAIT_MS); /* cmocka runs no teardown after a failed setup */
        f->sys = NULL;
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sys != NULL)
        ens_system_close(f->sys, WAIT_MS);
    unlink_all(f);
    free(f);
    return 0;
}

/* ---- a raw client -------------------------------------------------------- */

/* Connect to the admin as a program connected by name; *self gets the
 * address the admin gave us. */
static int raw_connect(const fixture *f, ens_addr *self)
{
    int fd = test_raw_connect(f->name, WAIT_MS, self);
    assert_true(fd >= 0);
    return fd;
}

/* A round trip on the channel (a connect request for peer, answered): the
 * admin has handled everything sent on it before. */
static void raw_sync(int fd, ens_addr peer)
{
    ens__ctl_conn_v v = {peer, 0};
    assert_int_equal(ens__ctl_send(fd, ENS_ADDR_NONE, &ens__ctl_connect, &v, 0, NULL, 0), 0);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, WAIT_MS), 1);
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        assert_int_equal(ens__ctl_recv(fd, &m, fds, &nfds), 1);
        bool answered = ens_msg_value(m, &ens__ctl_connected) != NULL;
        ens_msg_free(m);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (answered)
            return;
    }
}

static void raw_event(int fd, ens_addr from, int kind, ens_addr about, const char *reason)
{
    ens_event ev = {.kind = (ens_event_kind)kind, .actor = about, .reason = reason};
    ens__ctl_event_v v;
    ens__ctl_event_to(&ev, &v);
    v.actor_type = v.msg_type = "";
    assert_int_equal(ens__ctl_send(fd, from, &ens__ctl_event, &v, 0, NULL, 0), 0);
}

/* ---- what the journal and the log hold afterwards --------------------- */

typedef struct seen {
    ens_addr raw, logger;
    int unknown_kinds, about_logger, own_reports;
    int events_refused, logs_refused, unreadable_letters;
    bool log_reason_escaped;
} seen;

static int look(const ens_journal_row *row, void *arg)
{
    seen *s = arg;
    const ens_event *ev = &row->ev;
    if (strcmp(ens_event_kind_name(ev->kind), "unknown") == 0)
        s->unknown_kinds++;
    if (ens_addr_equal(ev->actor, s->logger))
        s->about_logger++;
    if (ev->kind == ENS_EV_ERROR && ens_addr_equal(ev->actor, s->raw) &&
        strcmp(ev->reason, "a report about itself") == 0)
        s->own_reports++;
    if (ev->kind != ENS_EV_BADFRAME)
        return 0;
    if (ens_addr_equal(ev->actor, s->raw) && strstr(ev->reason, "event refused") != NULL)
        s->events_refused++;
    if (ens_addr_equal(ev->actor, s->raw) && strstr(ev->reason, "log line refused") != NULL) {
        s->logs_refused++;
        s->log_reason_escaped = strstr(ev->reason, "hello\\n[forged line]") != NULL;
    }
    if (strstr(ev->reason, "frame header cannot be read") != NULL &&
        strstr(ev->reason, "raw dead letter") != NULL)
        s->unreadable_letters++;
    return 0;
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    buf[len] = '\0';
    return buf;
}

static void test_forged_reports_leave_no_row_and_no_line(void **state)
{
    fixture *f = *state;
    ens_addr self;
    int fd = raw_connect(f, &self);
    raw_event(fd, self, 999, self, "kind 999");
    raw_event(fd, self, ENS_EV_CRASH, f->logger, "a crash of someone else");
    raw_event(fd, self, ENS_EV_ERROR, self, "a report about itself");
    ens__ctl_log_v line = {ENS_LOG_ERROR, "hello\n[forged line] from outside\n"};
    assert_int_equal(ens__ctl_send(fd, self, &ens__ctl_log, &line, 0, NULL, 0), 0);
    /* Dead letters whose frame header does not pass: an address with its
     * reserved field set, and bytes that are no frame at all. */
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(
        ens__ctl_build(self, &ens_msg_string, &(ens_string_v){"lost?"}, 0, &frame, &len), 0);
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(frame, len, 1u << 20, &h), 0);
    h.flags = 0;
    h.target = f->logger;
    h.target.spare = 5;
    ens__frame_hdr_write(&h, frame);
    ens__ctl_frame_v letter = {"raw dead letter", {frame, (uint32_t)len}};
    assert_int_equal(ens__ctl_send(fd, self, &ens__ctl_deadletter, &letter, 0, NULL, 0), 0);
    uint8_t junk[10] = {'E', 'N', 'S', '1'};
    ens__ctl_frame_v garbage = {"raw dead letter", {junk, sizeof(junk)}};
    assert_int_equal(ens__ctl_send(fd, self, &ens__ctl_deadletter, &garbage, 0, NULL, 0), 0);
    free(frame);
    raw_sync(fd, f->logger);
    close(fd);

    /* An actor's own line with a newline in it. */
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(f->sys), f->logger, &ens_msg_string,
                             &(ens_string_v){"log before\n[forged actor line] after"}, WAIT_MS, &r),
                     0);
    ens_msg_free(r);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0); /* journal and log complete */
    f->sys = NULL;

    seen s = {.raw = self, .logger = f->logger};
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(f->db, &j), 0);
    assert_true(ens_journal_query(j, NULL, look, &s) >= 0);
    ens_journal_close(j);
    printf("# journal: %d unknown kinds, %d about the logger, %d own reports, %d events "
           "refused, %d log lines refused, %d unreadable dead letters\n",
           s.unknown_kinds, s.about_logger, s.own_reports, s.events_refused, s.logs_refused,
           s.unreadable_letters);
    assert_int_equal(s.unknown_kinds, 0);
    assert_int_equal(s.about_logger, 0);
    assert_int_equal(s.own_reports, 1);
    assert_int_equal(s.events_refused, 2);
    assert_int_equal(s.logs_refused, 1);
    assert_true(s.log_reason_escaped);
    assert_int_equal(s.unreadable_letters, 2);

    char *log = read_all(f->log);
    int forged = 0, escaped = 0;
    for (char *ln = log; ln != NULL && *ln != '\0';) {
        char *end = strchr(ln, '\n');
        if (end != NULL)
            *end = '\0';
        if (strncmp(ln, "[forged", 7) == 0)
            forged++;
        if (strstr(ln, "before\\n[forged actor line] after") != NULL)
            escaped++;
        ln = end != NULL ? end + 1 : NULL;
    }
    free(log);
    assert_int_equal(forged, 0);
    assert_int_equal(escaped, 1);
}

int main(void)
{
    if (ens_actor_register(&logger_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forged_reports_leave_no_row_and_no_line, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

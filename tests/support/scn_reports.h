/*
 * tests/support/scn_reports.h - the message types, report tags and test-side
 * helpers the scenario suites share (tests/test_scenarios_*.c): actors tell
 * the test what they saw in scn.Report messages, the test asserts on them.
 */
#ifndef ENS_TESTS_SCN_REPORTS_H
#define ENS_TESTS_SCN_REPORTS_H

#include "support/scenario.h"

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;
extern ens_msgtype greeting_t;

typedef struct roster_v {
    int32_t n;
    ens_array people; /* greeting_v items */
} roster_v;
extern ens_msgtype roster_t;

/* What actors tell the test: `tag` says what happened, the rest depends. */
typedef struct report_v {
    int32_t tag;
    int32_t n;
    int64_t a;
    int64_t b;
    ens_addr who;
    ens_addr other;
} report_v;
extern ens_msgtype report_t;

/* Never registered: sending it must fail. */
typedef struct unregistered_v {
    int32_t x;
} unregistered_v;
extern ens_msgtype unregistered_t;

enum report_tag {
    TAG_SPAWNED = 1,  /* parent: n = spawn rc, who = child */
    TAG_SAW_EXIT,     /* child: its receive saw the exit request */
    TAG_TERMINATE,    /* child: terminate ran, n = reason */
    TAG_STOPPING,     /* child: n = ens_stop(99) rc, a = ens_stop(ERROR, 42) rc */
    TAG_CHILD_EXITED, /* parent: n = reason, a = status, b = incarnation, who = child */
    TAG_CHILD_REPLY,  /* forwarded request answered by the child */
    TAG_DEAD,         /* dead envelope seen by collector n */
    TAG_UNREGISTERED, /* n = ens_dead_letters_handle(false) rc */
    TAG_FLAKY,        /* n = deliveries seen, a = first attempt, b = second */
    TAG_GO,           /* n = wake-up request rcs, a/b = cancel rcs */
    TAG_WAKE,         /* a = payload, b = ns since request, n = checks passed */
    TAG_H_GREETING,   /* typed handler for greetings */
    TAG_H_INT64,      /* typed handler for int64 */
    TAG_H_FALLBACK,   /* receive fallback, a = type id */
    TAG_ORDER,        /* n = order held, a = count, b = next expected */
};

#define REPORT(...) (&(report_v){__VA_ARGS__})

/* Register the message types above (not scn.Unregistered); call once in
 * main, before any system starts. 0 or the error of ens_msgtype_register. */
int scn_reports_register(void);

/* Tell report r to `to` (from inside an actor). */
int send_report(ens_ctx *c, ens_addr to, const report_v *r);
/* Reply report r to the current request. */
int reply_report(ens_ctx *c, const report_v *r);
/* The text of a string message, or NULL if m is not one. */
const char *msg_text(const ens_msg *m);
/* True if m is the string message `text`. */
bool msg_is_text(const ens_msg *m, const char *text);
/* Spawn d from outside (argument argt/arg, may be NULL); fails the test if
 * the spawn does. */
ens_addr spawn_ok(scn *t, const ens_actor_def *d, const ens_msgtype *argt, const void *arg);
/* Spawn d with an Int64 start argument `mode`. */
ens_addr spawn_mode(scn *t, const ens_actor_def *d, int64_t mode);
/* Tell the string `text` to `to` from outside; fails the test if refused. */
void tell_text(scn *t, ens_addr to, const char *text);
/* Ask and expect a reply of type want; the reply is returned (caller frees). */
ens_msg *ask_ok(scn *t, ens_addr to, const ens_msgtype *type, const void *v,
                const ens_msgtype *want);
/* Ask, expecting a report back. */
report_v ask_report(scn *t, ens_addr to, const ens_msgtype *type, const void *v);
/* Ask with the string `text`, expecting a report back. */
report_v ask_text_report(scn *t, ens_addr to, const char *text);
/* The next report told to the outside (waits up to SCN_WAIT_MS). */
report_v listen_report(scn *t);
/* Listen for reports until one with tag `last` (included) or max reports. */
size_t collect_until(scn *t, int32_t last, report_v *out, size_t max);
/* Index of the first report with tag, or -1. */
int find_tag(const report_v *r, size_t n, int32_t tag);
/* Fail the test if any message comes to the outside within timeout_ms. */
void assert_listen_quiet(scn *t, uint32_t timeout_ms);

#define assert_addr_equal(a, b) assert_true(ens_addr_equal((a), (b)))

#endif

/*
 * tests/support/scn_reports.c - the message types and test-side helpers the
 * scenario suites share (see scn_reports.h).
 */
#include "scn_reports.h"

#include <stdio.h>
#include <string.h>

ens_msgtype greeting_t = {"scn.Greeting", "S(is)", sizeof(greeting_v), 0, 0, NULL};
ens_msgtype roster_t = {"scn.Roster", "S(i)A(S(is))", sizeof(roster_v), 0, 0, NULL};
ens_msgtype report_t = {
    "scn.Report", "S(iiII" ENS_ADDR_FMT ENS_ADDR_FMT ")", sizeof(report_v), 0, 0, NULL};
ens_msgtype unregistered_t = {"scn.Unregistered", "S(i)", sizeof(unregistered_v), 0, 0, NULL};

int scn_reports_register(void)
{
    ens_msgtype *types[] = {&greeting_t, &roster_t, &report_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return rc;
        }
    }
    return 0;
}

int send_report(ens_ctx *c, ens_addr to, const report_v *r)
{
    return ens_send(c, to, &report_t, r);
}

int reply_report(ens_ctx *c, const report_v *r)
{
    return ens_reply(c, &report_t, r);
}

/* The text of a string message, or NULL if m is not one. */
const char *msg_text(const ens_msg *m)
{
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    return s != NULL ? s->text : NULL;
}

bool msg_is_text(const ens_msg *m, const char *text)
{
    const char *s = msg_text(m);
    return s != NULL && strcmp(s, text) == 0;
}

ens_addr spawn_ok(scn *t, const ens_actor_def *d, const ens_msgtype *argt, const void *arg)
{
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_spawn(t->out, d, argt, arg, &a);
    if (rc != 0)
        fail_msg("spawning %s: %s", d->name, ens_err_name(rc));
    assert_false(ens_addr_is_none(a));
    return a;
}

ens_addr spawn_mode(scn *t, const ens_actor_def *d, int64_t mode)
{
    return spawn_ok(t, d, &ens_msg_int64, &(ens_int64_v){mode});
}

void tell_text(scn *t, ens_addr to, const char *text)
{
    int rc = ens_send(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text});
    if (rc != 0)
        fail_msg("telling \"%s\": %s", text, ens_err_name(rc));
}

/* Ask and expect a reply of type want; the reply is returned (caller frees). */
ens_msg *ask_ok(scn *t, ens_addr to, const ens_msgtype *type, const void *v,
                const ens_msgtype *want)
{
    ens_msg *r = NULL;
    int rc = ens_ask(t->out, to, type, v, SCN_WAIT_MS, &r);
    if (rc != 0) {
        ens_msg_free(r);
        fail_msg("ens_ask with %s: %s", type->name, ens_err_name(rc));
    }
    assert_non_null(r);
    if (ens_msg_value(r, want) == NULL) {
        ens_msg_free(r);
        fail_msg("ens_ask with %s: reply is not %s", type->name, want->name);
    }
    return r;
}

report_v ask_report(scn *t, ens_addr to, const ens_msgtype *type, const void *v)
{
    ens_msg *r = ask_ok(t, to, type, v, &report_t);
    report_v rep = *(const report_v *)ens_msg_value(r, &report_t);
    ens_msg_free(r);
    return rep;
}

report_v ask_text_report(scn *t, ens_addr to, const char *text)
{
    return ask_report(t, to, &ens_msg_string, &(ens_string_v){(char *)text});
}

report_v listen_report(scn *t)
{
    ens_msg *m = scn_listen_type(t, &report_t, SCN_WAIT_MS);
    report_v rep = *(const report_v *)ens_msg_value(m, &report_t);
    ens_msg_free(m);
    return rep;
}

/* Listen for reports until one with tag `last` (included) or max reports. */
size_t collect_until(scn *t, int32_t last, report_v *out, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        out[i] = listen_report(t);
        if (out[i].tag == last)
            return i + 1;
    }
    fail_msg("no report with tag %d among %zu reports", (int)last, max);
    return max;
}

/* Index of the first report with tag, or -1. */
int find_tag(const report_v *r, size_t n, int32_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].tag == tag)
            return (int)i;
    return -1;
}

void assert_listen_quiet(scn *t, uint32_t timeout_ms)
{
    ens_msg *m = NULL;
    int rc = ens_listen(t->out, timeout_ms, &m);
    if (rc != ENS_ETIMEDOUT) {
        const ens_msgtype *ty = m != NULL ? ens_msg_type(m) : NULL;
        char name[64];
        snprintf(name, sizeof(name), "%s", ty != NULL ? ty->name : "?");
        ens_msg_free(m);
        fail_msg("expected no message, ens_listen gave %s (%s)", ens_err_name(rc), name);
    }
    assert_null(m);
}

/*
 * tests/test_refusals.c - what the calls that send, spawn and report must
 * refuse, on every base (tests/support/scenario.h): an address whose
 * reserved field is not 0 (no frame can carry it: before, the message
 * vanished without a dead letter), a NULL value (every message type has
 * one), a start argument type without its value, and failure events a
 * caller may not report (an unknown kind, events about other actors).
 *
 * The checks made inside an actor run in a Probe, which answers with a bit
 * mask of the checks that did not return what they must (0: all did), so a
 * failure names the check that broke (bit i = the i-th CHECK in the probe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/scenario.h"

#define SHORT_MS 1000 /* a request that must not even leave */

static void ignore_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)c, (void)state, (void)status, (void)reply, (void)tag;
}

/* Record in *failed (bit *n) whether got != want, and count the check. */
static void check(int64_t *failed, int *n, int got, int want)
{
    if (got != want)
        *failed |= (int64_t)1 << *n;
    (*n)++;
}

extern const ens_actor_def probe_def;

/* "check": run the checks, answer with the mask. Anything else: ignored
 * (a message the checks could have let through, e.g. a zeroed value). */
static int probe_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *cmd = ens_msg_value(m, &ens_msg_string);
    if (cmd == NULL || cmd->text == NULL || strcmp(cmd->text, "check") != 0)
        return 0;
    int64_t failed = 0;
    int n = 0;
    ens_addr self = ens_self(c);
    ens_addr bad = self;
    bad.spare = 1;
    ens_string_v s = {"x"};
    /* 0-8: an address with its reserved field set */
    check(&failed, &n, ens_send(c, bad, &ens_msg_string, &s), ENS_EINVAL);
    check(&failed, &n, ens_cast(c, bad, &ens_msg_string, &s), ENS_EINVAL);
    check(&failed, &n, ens_request(c, bad, &ens_msg_string, &s, SHORT_MS, ignore_reply, 0),
          ENS_EINVAL);
    check(&failed, &n, ens_call(c, bad, &ens_msg_string, &s, SHORT_MS, ignore_reply, 0),
          ENS_EINVAL);
    check(&failed, &n, ens_exit_request(c, bad), ENS_EINVAL);
    check(&failed, &n, ens_kill(c, bad), ENS_EINVAL);
    check(&failed, &n, ens_forward(c, bad, m), ENS_EINVAL);
    check(&failed, &n, ens_reply_to(c, (ens_from){bad, 0}, 0, &ens_msg_string, &s), ENS_EINVAL);
    check(&failed, &n, ens_gen_server_cast(c, bad, &ens_msg_string, &s), ENS_EINVAL);
    /* 9-17: a NULL value */
    check(&failed, &n, ens_send(c, self, &ens_msg_string, NULL), ENS_EINVAL);
    check(&failed, &n, ens_cast(c, self, &ens_msg_string, NULL), ENS_EINVAL);
    check(&failed, &n, ens_request(c, self, &ens_msg_string, NULL, SHORT_MS, ignore_reply, 0),
          ENS_EINVAL);
    check(&failed, &n, ens_call(c, self, &ens_msg_string, NULL, SHORT_MS, ignore_reply, 0),
          ENS_EINVAL);
    check(&failed, &n, ens_reply(c, &ens_msg_string, NULL), ENS_EINVAL);
    check(&failed, &n, ens_reply_to(c, ens_from_current(c), 0, &ens_msg_string, NULL), ENS_EINVAL);
    check(&failed, &n, ens_reply_error(c, ENS_EIO, &ens_msg_string, NULL), ENS_EINVAL);
    check(&failed, &n, ens_name_send(c, "refusals.nobody", &ens_msg_string, NULL), ENS_EINVAL);
    ens_addr child = ENS_ADDR_NONE;
    check(&failed, &n, ens_spawn(c, &probe_def, &ens_msg_string, NULL, &child), ENS_EINVAL);
    /* 18-23: what an actor may report */
    check(&failed, &n, ens_spawn(c, &probe_def, NULL, NULL, &child), 0);
    ens_event own = {.kind = ENS_EV_ERROR, .reason = "about itself"};
    check(&failed, &n, ens_event_report(c, &own), 0);
    ens_event of_child = {
        .kind = ENS_EV_RESTART, .actor = child, .parent = self, .reason = "about its child"};
    check(&failed, &n, ens_event_report(c, &of_child), 0);
    ens_addr elsewhere = {987654321, self.node, 0};
    ens_event letter = {
        .kind = ENS_EV_DEAD_LETTER, .actor = elsewhere, .reason = "a letter it could not deliver"};
    check(&failed, &n, ens_event_report(c, &letter), 0);
    ens_event other = {.kind = ENS_EV_CRASH, .actor = ens_sender(c), .reason = "forged"};
    check(&failed, &n, ens_event_report(c, &other), ENS_EINVAL);
    ens_event unknown = {.kind = (ens_event_kind)999, .reason = "forged"};
    check(&failed, &n, ens_event_report(c, &unknown), ENS_EINVAL);
    return ens_reply(c, &ens_msg_int64, &(ens_int64_v){failed});
}

const ens_actor_def probe_def = {
    "refusals.Probe", 0, NULL, probe_receive, NULL, NULL, NULL, NULL, NULL};

/* No recorded event may be of an unknown kind or name `who`. */
static void no_event_about(const scn *t, ens_addr who)
{
    for (size_t i = 0; i < t->n_events; i++) {
        assert_string_not_equal(ens_event_kind_name(t->events[i].kind), "unknown");
        assert_false(ens_addr_equal(t->events[i].actor, who));
    }
}

static void test_actor_calls_refuse_bad_addresses_null_values_and_forged_events(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr probe = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &probe_def, NULL, NULL, &probe), 0);
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(t->out, probe, &ens_msg_string, &(ens_string_v){"check"}, SCN_WAIT_MS, &r), 0);
    const ens_int64_v *failed = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(failed);
    if (failed->value != 0)
        fail_msg("checks in the probe that failed (bit i = check i): 0x%llx",
                 (unsigned long long)failed->value);
    ens_msg_free(r);
    if (scn_events_local(t)) /* the forged reports left no trace */
        no_event_about(t, ens_self(t->out));
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_outside_calls_refuse_bad_addresses_null_values_and_forged_events(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr probe = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &probe_def, NULL, NULL, &probe), 0);
    ens_addr bad = probe;
    bad.spare = 7;
    ens_string_v s = {"check"};
    ens_msg *r = (ens_msg *)1;
    assert_int_equal(ens_send(t->out, bad, &ens_msg_string, &s), ENS_EINVAL);
    assert_int_equal(ens_ask(t->out, bad, &ens_msg_string, &s, SHORT_MS, &r), ENS_EINVAL);
    assert_null(r);
    assert_int_equal(ens_exit_request(t->out, bad), ENS_EINVAL);
    assert_int_equal(ens_kill(t->out, bad), ENS_EINVAL);
    assert_int_equal(ens_gen_server_cast(t->out, bad, &ens_msg_string, &s), ENS_EINVAL);
    assert_int_equal(ens_send(t->out, probe, &ens_msg_string, NULL), ENS_EINVAL);
    assert_int_equal(ens_cast(t->out, probe, &ens_msg_string, NULL), ENS_EINVAL);
    assert_int_equal(ens_ask(t->out, probe, &ens_msg_string, NULL, SHORT_MS, &r), ENS_EINVAL);
    assert_int_equal(ens_name_send(t->out, "refusals.nobody", &ens_msg_string, NULL), ENS_EINVAL);
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &probe_def, &ens_msg_string, NULL, &a), ENS_EINVAL);
    /* The outside program reports about itself only, and known kinds. */
    ens_event own = {.kind = ENS_EV_ERROR, .reason = "about itself"};
    assert_int_equal(ens_event_report(t->out, &own), 0);
    own.actor = ens_self(t->out);
    assert_int_equal(ens_event_report(t->out, &own), 0);
    ens_event other = {.kind = ENS_EV_CRASH, .actor = probe, .reason = "forged"};
    assert_int_equal(ens_event_report(t->out, &other), ENS_EINVAL);
    ens_event unknown = {.kind = (ens_event_kind)999, .reason = "forged"};
    assert_int_equal(ens_event_report(t->out, &unknown), ENS_EINVAL);
    if (scn_events_local(t)) {
        no_event_about(t, probe);
        assert_int_equal(scn_events_count(t, ENS_EV_ERROR, ens_self(t->out)), 2);
    }
    /* Nothing was sent or queued: the probe answers the next ask first. */
    assert_int_equal(ens_ask(t->out, probe, &ens_msg_string, &s, SCN_WAIT_MS, &r), 0);
    const ens_int64_v *failed = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(failed);
    assert_int_equal(failed->value, 0);
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest refusals[] = {
    SCN_TEST(test_actor_calls_refuse_bad_addresses_null_values_and_forged_events),
    SCN_TEST(test_outside_calls_refuse_bad_addresses_null_values_and_forged_events),
};

int main(void)
{
    return scn_run_bases("refusals", refusals, sizeof(refusals) / sizeof(refusals[0]));
}

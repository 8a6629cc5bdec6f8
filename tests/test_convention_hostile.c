/*
 * tests/test_convention_hostile.c - a peer on the convention's NATS server
 * that lies (process base). A raw NATS client publishes frames on a
 * system's node subject: one whose sender is not on the node its subject
 * names as the publisher, one of a type only the system's own admin sends,
 * and a flood of garbage. Each lie is refused with a BADFRAME row of the
 * gateway and nothing of it is delivered; the flood costs a bounded number
 * of rows and log lines. Skipped, with a message, without nats-server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "support/deadline.h"
#include "support/nats_server.h"

#include "core/process/proc.h"
#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"

static test_nats server;
static char conv_name[32];
static ens_system *sys_b;
static natsConnection *peer;
static char log_path[128];

typedef struct seen {
    int rows;        /* BADFRAME rows about the gateway */
    uint64_t summed; /* refusals those rows account for (a summary row: its count) */
    int summaries;
    char last[400];
} seen;
static seen seen_b;

static void on_event(const ens_event *ev, void *arg)
{
    seen *w = arg;
    if (ev->kind != ENS_EV_BADFRAME || ev->actor_type == NULL ||
        strcmp(ev->actor_type, "ens.Gateway") != 0)
        return;
    const char *why = ev->reason != NULL ? ev->reason : "";
    w->rows++;
    unsigned long long more = 0;
    if (sscanf(why, "%llu more messages from NATS refused", &more) == 1) {
        w->summed += more;
        w->summaries++;
    } else {
        w->summed++;
    }
    snprintf(w->last, sizeof(w->last), "%s", why);
}

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    if (ens__ctl_register() < 0)
        return -1;
    return test_nats_start(&server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_nats_stop(&server);
    return 0;
}

static int member_setup(void **state)
{
    (void)state;
    if (server.pid == 0)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "h%d", (int)getpid());
    snprintf(log_path, sizeof(log_path), "/tmp/ens-hostile-%d.log", (int)getpid());
    unlink(log_path);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_path = log_path;
    o.on_event = on_event;
    o.event_arg = &seen_b;
    o.convention.servers = server.url;
    o.convention.name = conv_name;
    memset(&seen_b, 0, sizeof(seen_b));
    if (ens_system_start(&o, &sys_b) < 0)
        return -1;
    return natsConnection_ConnectTo(&peer, server.url) == NATS_OK ? 0 : -1;
}

static int member_teardown(void **state)
{
    (void)state;
    if (peer != NULL)
        natsConnection_Destroy(peer);
    peer = NULL;
    if (sys_b != NULL)
        ens_system_stop(sys_b, 5000);
    sys_b = NULL;
    unlink(log_path);
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server.pid == 0) {                                                                     \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Counts ens.Int64 messages; asked with an ens.String it answers the count. */
static int counter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    int64_t *n = state;
    if (ens_msg_value(m, &ens_msg_int64) != NULL) {
        (*n)++;
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_string) != NULL) {
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)*n);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
    }
    return 0;
}

static const ens_actor_def counter_def = {
    "hostile.Counter", sizeof(int64_t), NULL, counter_receive, NULL, NULL, NULL, NULL, NULL};

static long long count_of(ens_addr k)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(sys_b), k, &ens_msg_string, &(ens_string_v){"?"}, TEST_WAIT_MS, &r),
        0);
    long long n = atoll(((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
    ens_msg_free(r);
    return n;
}

/* Publish data as node `from` to B's node subject. */
static void publish_as(uint32_t from, const uint8_t *data, size_t len)
{
    char subj[128];
    snprintf(subj, sizeof(subj), "ens.%s.n.%u.%u", conv_name,
             (unsigned)ens_self(ens_system_ctx(sys_b)).node, (unsigned)from);
    assert_int_equal(natsConnection_Publish(peer, subj, data, (int)len), NATS_OK);
}

/* An ens.Int64 frame to `to` from `sender` with flags. */
static void publish_int(uint32_t from, ens_addr to, ens_addr sender, uint16_t flags)
{
    ens_frame_hdr h = {.target = to, .sender = sender, .attempt = 1, .flags = flags};
    uint8_t *f = NULL;
    size_t len = 0;
    int64_t v = 1;
    assert_int_equal(ens__frame_build(&ens_msg_int64, &v, &h, 1u << 20, &f, &len), 0);
    publish_as(from, f, len);
    free(f);
}

/* A header-only frame of type_id to `to`. */
static void publish_type(uint32_t from, ens_addr to, ens_addr sender, uint32_t type_id,
                         uint16_t flags)
{
    uint8_t frame[ENS_FRAME_HEADER_LEN];
    ens_frame_hdr h = {
        .target = to, .sender = sender, .attempt = 1, .type_id = type_id, .flags = flags};
    ens__frame_hdr_write(&h, frame);
    publish_as(from, frame, sizeof(frame));
}

static void wait_rows(int rows)
{
    assert_int_equal(natsConnection_FlushTimeout(peer, TEST_WAIT_MS), NATS_OK);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (seen_b.rows < rows && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    if (seen_b.rows != rows)
        fail_msg("%d BADFRAME rows (want %d), last \"%s\"", seen_b.rows, rows, seen_b.last);
}

/* The publisher is the node of the subject: a frame naming a sender of
 * another node is refused, unless it was forwarded (ens_forward keeps the
 * original sender) and is of a user type; a forwarded system notice is
 * refused all the same, and so is a subject that names no node. */
static void test_a_sender_not_on_the_publishing_node_is_refused(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr k = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_b), &counter_def, NULL, NULL, &k), 0);
    const uint32_t x = k.node ^ 0x11u, y = k.node ^ 0x22u;
    const ens_addr on_x = {5, x, 0}, on_y = {6, y, 0};

    publish_int(x, k, on_x, 0); /* honest */
    publish_int(x, k, on_y, 0); /* a lie */
    publish_int(x, k, on_y, ENS_FRAME_FORWARDED);
    ens_child_exited_v ce = {on_y, ENS_EXIT_NORMAL, 0, 0, 1};
    ens_frame_hdr h = {
        .target = k, .sender = on_y, .attempt = 1, .flags = ENS_FRAME_SYSTEM | ENS_FRAME_FORWARDED};
    uint8_t *f = NULL;
    size_t len = 0;
    assert_int_equal(ens__frame_build(&ens_msg_child_exited, &ce, &h, 1u << 20, &f, &len), 0);
    publish_as(x, f, len); /* a forwarded notice about another node's actor */
    free(f);
    char subj[128];
    snprintf(subj, sizeof(subj), "ens.%s.n.%u.someone", conv_name, (unsigned)k.node);
    uint8_t *g = NULL;
    ens_frame_hdr hg = {.target = k, .sender = on_x, .attempt = 1};
    int64_t v = 1;
    assert_int_equal(ens__frame_build(&ens_msg_int64, &v, &hg, 1u << 20, &g, &len), 0);
    assert_int_equal(natsConnection_Publish(peer, subj, g, (int)len), NATS_OK);
    free(g);

    wait_rows(3);
    assert_non_null(strstr(seen_b.last, "names no other publishing node"));
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    long long n = 0;
    while ((n = count_of(k)) < 2 && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    assert_int_equal(n, 2); /* the honest one and the forwarded one */
    assert_int_equal(seen_b.rows, 3);
}

/* Control types and the notices of one host never cross: each refused. */
static void test_admin_only_types_from_nats_are_refused(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr k = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_b), &counter_def, NULL, NULL, &k), 0);
    const uint32_t x = k.node ^ 0x11u;
    const ens_addr on_x = {5, x, 0};
    const uint32_t types[] = {
        ens__ctl_joined.id,  ens__ctl_shutdown.id,      ens__ctl_spawn.id,       ens_msg_wakeup.id,
        ens_msg_fd_ready.id, ens_msg_command_result.id, ens_msg_dead_envelope.id};
    const int n = (int)(sizeof(types) / sizeof(types[0]));
    for (int i = 0; i < n; i++)
        publish_type(x, k, on_x, types[i], ENS_FRAME_SYSTEM);
    wait_rows(n);
    assert_non_null(strstr(seen_b.last, "only this system's admin sends"));
    publish_int(x, k, on_x, 0);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    long long got = 0;
    while ((got = count_of(k)) < 1 && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    assert_int_equal(got, 1); /* an honest one still crosses */
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int log_lines_with(const char *text)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

/* A flood of garbage: every message is accounted for (a row, or a count
 * in a summary row), but the rows and log lines stay within the limit per
 * second (gateway_inbound.h) for as long as the flood took to be refused. */
static void test_a_flood_of_garbage_costs_bounded_rows_and_log_lines(void **state)
{
    (void)state;
    NEED_SERVER();
    enum { FLOOD = 2000 };
    const uint32_t x = ens_self(ens_system_ctx(sys_b)).node ^ 0x11u;
    uint8_t junk[100];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    int64_t started = now_ms();
    for (int i = 0; i < FLOOD; i++)
        publish_as(x, junk, sizeof(junk));
    assert_int_equal(natsConnection_FlushTimeout(peer, TEST_WAIT_MS), NATS_OK);
    while (seen_b.summed < FLOOD && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    int64_t took = now_ms() - started;
    if (seen_b.summed != FLOOD)
        fail_msg("%llu refusals accounted for (want %d), last \"%s\"",
                 (unsigned long long)seen_b.summed, FLOOD, seen_b.last);
    assert_true(seen_b.summaries >= 1);
    /* Windows the flood spanned, counted generously: each costs at most 32
     * rows and a summary row, one line and a summary line. */
    long windows = (long)(took / 1000) + 2;
    assert_true(seen_b.rows <= windows * 33);
    int lines = log_lines_with("from NATS");
    assert_true(lines >= 1);
    assert_true(lines <= windows * 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_sender_not_on_the_publishing_node_is_refused,
                                        member_setup, member_teardown),
        cmocka_unit_test_setup_teardown(test_admin_only_types_from_nats_are_refused, member_setup,
                                        member_teardown),
        cmocka_unit_test_setup_teardown(test_a_flood_of_garbage_costs_bounded_rows_and_log_lines,
                                        member_setup, member_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

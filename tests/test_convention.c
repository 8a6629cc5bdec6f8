/*
 * tests/test_convention.c - systems of one convention on NATS (process
 * base): one private nats-server (tests/support/nats_server.h) and systems
 * on this host that reach each other's actors through their gateways.
 * Skipped, with a message, when nats-server is not installed.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "support/convention.h"
#include "support/deadline.h"
#include "support/echo.h"
#include "support/nats_server.h"

#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"

/* The helper's own contract: a second server runs beside the first on
 * another port, accepts, and once stopped leaves no process and no
 * directory. */
static void test_nats_helper_starts_and_stops_a_server(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    test_nats other;
    assert_int_equal(test_nats_start(&other, TEST_WAIT_MS), 0);
    assert_int_not_equal(other.port, test_conv_server.port);
    assert_true(test_nats_accepts(&other));
    char dir[64];
    snprintf(dir, sizeof(dir), "%s", other.dir);
    pid_t pid = other.pid;
    test_nats_stop(&other);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(kill(pid, 0), -1); /* reaped: the pid is no longer ours */
    test_nats_stop(&other);             /* twice is harmless */
}

/* Start a system of base with convention c; returns what ens_system_start
 * said (a system that started is stopped at once). Its log goes to
 * log_path (NULL: thrown away). */
static int start_with(ens_base base, const ens_convention_opts *c, const char *log_path)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.journal_path = "";
    o.log_path = log_path != NULL ? log_path : "/dev/null";
    o.convention = *c;
    ens_system *s = NULL;
    int rc = ens_system_start(&o, &s);
    if (rc == 0)
        ens_system_stop(s, 5000);
    return rc;
}

static void test_convention_options_refused_on_inproc(void **state)
{
    (void)state;
    char log[] = "/tmp/ens-conv-log-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    ens_convention_opts c = {.servers = "nats://127.0.0.1:4222", .name = "demo"};
    assert_int_equal(start_with(ENS_BASE_INPROC, &c, log), ENS_ENOTSUP);
    /* Any field counts, not only servers. */
    ens_convention_opts t = {.token = "secret"};
    assert_int_equal(start_with(ENS_BASE_INPROC, &t, NULL), ENS_ENOTSUP);
    char text[512] = {0};
    assert_true(read(fd, text, sizeof(text) - 1) > 0);
    assert_non_null(strstr(text, "convention options need the process base"));
    close(fd);
    unlink(log);
}

static void test_bad_convention_options_refused(void **state)
{
    (void)state;
    static const ens_convention_opts bad[] = {
        {.servers = "nats://127.0.0.1:4222", .name = "a.b"}, /* a subject separator */
        {.servers = "nats://127.0.0.1:4222", .name = "a*"},
        {.servers = "nats://127.0.0.1:4222", .name = "a>"},
        {.servers = "nats://127.0.0.1:4222", .name = "has space"},
        {.servers = "nats://127.0.0.1:4222",
         .name = "x1234567890123456789012345678901234567890123456789012345678901234"}, /* 65 */
        {.servers = "nats://127.0.0.1:4222"},                                          /* no name */
        {.name = "demo"}, /* no servers */
        {.servers = "", .name = "demo"},
        {.servers = "nats://a:1,,nats://b:2", .name = "demo"},
        {.servers = "http://a:1", .name = "demo"},
        {.servers = "nats://a:1, nats://b:2", .name = "demo"},
        {.servers = "nats://a:1", .name = "demo", .user = "u"},
        {.servers = "nats://a:1", .name = "demo", .password = "p"},
        {.servers = "nats://a:1", .name = "demo", .user = "u", .password = "p", .token = "t"},
        {.servers = "nats://a:1", .name = "demo", .creds_file = "/x", .nkey_seed_file = "/y"},
        {.servers = "nats://a:1", .name = "demo", .nkey_seed_file = "/y"},
        {.servers = "nats://a:1", .name = "demo", .nkey = "UABC"},
        {.servers = "nats://a:1", .name = "demo", .tls_cert = "/c"},
        {.servers = "nats://a:1", .name = "demo", .tls_key = "/k"},
        {.servers = "nats://a:1", .name = "demo", .token = ""},
        {.token = "t"},
        {.servers = "nats://a:1", .name = "demo", .heartbeat_ms = 49}, /* below 50 ms */
        {.servers = "nats://a:1", .name = "demo", .heartbeat_ms = 60001},
        {.heartbeat_ms = 1000}, /* a convention field without servers */
        {.servers = "nats://a:1", .name = "demo", .down_after_ms = 199}, /* below 200 ms */
        {.servers = "nats://a:1", .name = "demo", .down_after_ms = 600001},
        {.servers = "nats://a:1", .name = "demo", .heartbeat_ms = 400, .down_after_ms = 400},
        {.servers = "nats://a:1", .name = "demo", .down_after_ms = 500}, /* heartbeat 500 */
        {.down_after_ms = 2000}, /* a convention field without servers */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = start_with(ENS_BASE_PROCESS, &bad[i], NULL);
        if (rc != ENS_EINVAL)
            fail_msg("case %zu: %s instead of ENS_EINVAL", i, ens_strerror(rc));
    }
}

/* Capabilities given at start break a limit of convention.h: refused with
 * ENS_EINVAL, each for its own reason. */
static void test_bad_capabilities_refused(void **state)
{
    (void)state;
    static char long_value[ENS_CAPABILITY_VALUE_MAX + 16];
    snprintf(long_value, sizeof(long_value), "v=%0*d", (int)ENS_CAPABILITY_VALUE_MAX + 1, 0);
    static char many[ENS_CAPABILITY_MAX_KEYS * 8];
    size_t at = 0;
    for (unsigned i = 0; i < ENS_CAPABILITY_MAX_KEYS - 1; i++) /* 255 + 2 built-ins */
        at += (size_t)snprintf(many + at, sizeof(many) - at, "k%u=\n", i);
    static char huge[ENS_CAPABILITY_TOTAL_MAX + 1100];
    at = 0;
    for (unsigned i = 0; at + 1040 < sizeof(huge); i++)
        at += (size_t)snprintf(huge + at, sizeof(huge) - at, "k%u=%01000d\n", i, 0);
    static char key65[80];
    snprintf(key65, sizeof(key65), "%065d=1", 0);
    const char *bad[] = {
        "",             /* empty: leave it NULL */
        "gpu",          /* not key=value */
        "=1",           /* empty key */
        "ens.host=x",   /* a built-in's prefix */
        "a b=1",        /* a space in the key */
        "gpu=1\ngpu=2", /* twice */
        "gpu=\x01",     /* a control character */
        "gpu=1\n\n",    /* an empty line */
        key65,
        long_value,
        many,
        huge,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ens_convention_opts c = {.servers = "nats://a:1", .name = "demo", .capabilities = bad[i]};
        int rc = start_with(ENS_BASE_PROCESS, &c, NULL);
        if (rc != ENS_EINVAL)
            fail_msg("case %zu: %s instead of ENS_EINVAL", i, ens_strerror(rc));
    }
    /* On the inproc base, capabilities are a convention field: not supported. */
    ens_convention_opts c = {.capabilities = "gpu=1"};
    assert_int_equal(start_with(ENS_BASE_INPROC, &c, NULL), ENS_ENOTSUP);
}

/* ---- systems in one convention ------------------------------------- */

#define MESSAGES 10000

static ens_system *sys_a, *sys_b;
static test_conv_seen seen_a, seen_b; /* as this program, their starter, hears them */

static int members_setup(void **state)
{
    (void)state;
    if (test_conv_server.pid == 0)
        return 0;
    test_conv_name_set("t");
    sys_a = test_conv_start_seen(&seen_a, 0, 0);
    sys_b = test_conv_start_seen(&seen_b, 0, 0);
    return 0;
}

/* B's destinations hold at most 16 frames each (its gateway's too). */
static int members_setup_small_b(void **state)
{
    (void)state;
    if (test_conv_server.pid == 0)
        return 0;
    test_conv_name_set("t");
    sys_a = test_conv_start_seen(&seen_a, 0, 0);
    sys_b = test_conv_start_seen(&seen_b, 0, 16);
    return 0;
}

static int members_teardown(void **state)
{
    (void)state;
    test_conv_stop(&sys_a);
    test_conv_stop(&sys_b);
    return 0;
}

static const ens_actor_def echo_def = {"conv.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,        NULL, NULL};

static const ens_actor_def counter_def = {.name = "conv.Counter",
                                          .state_size = sizeof(test_conv_counter),
                                          .receive = test_conv_counter_receive};

/* Asked with the text of an address, requests that address with
 * "across" and answers its asker with the reply's text (or the error). */
typedef struct relay {
    ens_from asker;
} relay;

static void relay_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)tag;
    relay *r = state;
    const ens_string_v *v = reply != NULL ? ens_msg_value(reply, &ens_msg_string) : NULL;
    if (status == 0 && v != NULL)
        ens_reply_to(c, r->asker, 0, &ens_msg_string, v);
    else
        ens_reply_to(c, r->asker, status < 0 ? status : ENS_EBADTYPE, NULL, NULL);
}

static int relay_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    relay *r = state;
    const ens_string_v *v = ens_msg_value(m, &ens_msg_string);
    ens_addr to;
    if (v == NULL || ens_addr_parse(v->text, &to) < 0)
        return 0;
    r->asker = ens_from_current(c);
    return ens_request(c, to, &ens_msg_string, &(ens_string_v){"across"}, 0, relay_reply, 0);
}

static const ens_actor_def relay_def = {"conv.Relay", sizeof(relay), NULL, relay_receive, NULL,
                                        NULL,         NULL,          NULL, NULL};

static ens_addr spawn_on(ens_system *s, const ens_actor_def *d)
{
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(s), d, NULL, NULL, &a), 0);
    return a;
}

static void test_each_member_has_its_own_node_and_a_single_threaded_admin(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr a = ens_self(ens_system_ctx(sys_a)), b = ens_self(ens_system_ctx(sys_b));
    assert_int_not_equal(a.node, b.node);
    /* The admin forks actors: it must stay one thread with no NATS code
     * (libnats's threads live in the gateway only). */
    int uid = -1, pid = -1;
    assert_int_equal(ens_system_holder(ens_system_options(sys_b)->name, &uid, &pid), 0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int threads = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        threads += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(threads, 1);
}

static void test_ask_from_the_outside_of_one_system_to_an_actor_of_another(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr echo = spawn_on(sys_b, &echo_def);
    test_expect_echo(ens_system_ctx(sys_a), echo, "over NATS", TEST_WAIT_MS);
    test_expect_echo(ens_system_ctx(sys_a), echo, "and again", TEST_WAIT_MS);
}

static void test_ten_thousand_tells_arrive_complete_and_in_order(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr k = spawn_on(sys_b, &counter_def);
    ens_ctx *a = ens_system_ctx(sys_a);
    for (int64_t i = 0; i < MESSAGES; i++) {
        int rc;
        while ((rc = ens_send(a, k, &ens_msg_int64, &i)) == ENS_EFULL)
            ens_system_run(sys_a, 10); /* let what waits leave */
        assert_int_equal(rc, 0);
    }
    char want[64];
    snprintf(want, sizeof(want), "%d 0", MESSAGES);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    char got[64] = "";
    while (!test_deadline_passed(d)) {
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(a, k, &ens_msg_string, &(ens_string_v){"?"}, TEST_WAIT_MS, &r), 0);
        snprintf(got, sizeof(got), "%s",
                 ((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
        ens_msg_free(r);
        /* The ask travels behind the tells on its own connection: once
         * the count is whole it is final. */
        if (strcmp(got, want) == 0)
            break;
        int64_t next = 0, bad = 0;
        assert_int_equal(sscanf(got, "%lld %lld", (long long *)&next, (long long *)&bad), 2);
        assert_int_equal(bad, 0);
        ens_system_run(sys_a, 50);
    }
    assert_string_equal(got, want);
}

/* Whole batches of frames reach B's gateway at once, far more than the 16
 * its connection to the counter may hold: the rest wait in the gateway, in
 * order, while the counter reads; none is a dead letter. */
static void test_a_receiver_behind_a_small_mailbox_gets_every_tell_in_order(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr k = spawn_on(sys_b, &counter_def);
    ens_ctx *a = ens_system_ctx(sys_a);
    for (int64_t i = 0; i < MESSAGES; i++) {
        int rc;
        while ((rc = ens_send(a, k, &ens_msg_int64, &i)) == ENS_EFULL)
            ens_system_run(sys_a, 10);
        assert_int_equal(rc, 0);
    }
    char want[64], got[64] = "";
    snprintf(want, sizeof(want), "%d 0", MESSAGES);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (!test_deadline_passed(d)) {
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(ens_system_ctx(sys_b), k, &ens_msg_string, &(ens_string_v){"?"},
                                 TEST_WAIT_MS, &r),
                         0);
        snprintf(got, sizeof(got), "%s",
                 ((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
        ens_msg_free(r);
        if (strcmp(got, want) == 0 || seen_b.dead_letters > 0)
            break;
        ens_system_run(sys_a, 20);
        ens_system_run(sys_b, 20);
    }
    assert_int_equal(seen_b.dead_letters, 0);
    assert_string_equal(got, want);
}

static void test_an_actor_requests_an_actor_of_another_system(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr echo = spawn_on(sys_b, &echo_def);
    ens_addr rel = spawn_on(sys_a, &relay_def);
    char text[ENS_ADDR_STRLEN];
    ens_addr_format(echo, text, sizeof(text));
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(sys_a), rel, &ens_msg_string, &(ens_string_v){text},
                             TEST_WAIT_MS, &r),
                     0);
    assert_string_equal(((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text, "across");
    ens_msg_free(r);
}

static void test_a_message_to_an_unknown_node_is_a_dead_letter(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr a = ens_self(ens_system_ctx(sys_a)), b = ens_self(ens_system_ctx(sys_b));
    uint32_t node = 3;
    while (node == a.node || node == b.node)
        node++;
    ens_addr nowhere = {16, node, 0};
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(sys_a), nowhere, &ens_msg_string, &(ens_string_v){"?"},
                     TEST_WAIT_MS, &r);
    assert_int_equal(rc, ENS_ENOACTOR);
    assert_non_null(r);
    const ens_string_v *why = ens_msg_value(r, &ens_msg_string);
    assert_non_null(why);
    assert_non_null(strstr(why->text, "no system of the convention has that node"));
    ens_msg_free(r);
    /* A tell (no reply to give) is a DEAD_LETTER row with the reason. */
    int64_t one = 1;
    assert_int_equal(ens_send(ens_system_ctx(sys_a), nowhere, &ens_msg_int64, &one), 0);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (seen_a.dead_letters < 2 && !test_deadline_passed(d))
        ens_system_run(sys_a, 50);
    assert_true(seen_a.dead_letters >= 2);
    assert_non_null(strstr(seen_a.last_dead, "no system of the convention has that node"));
}

/* ---- batches (core/process/gateway/gateway_batch.h) ------------------ */

#define BATCH_MAX 400

/* A good batch of two int64 frames (0 and 1) to `to` from another node:
 * head (12), then 4-byte length + 72-byte frame, twice: 164 bytes. */
static size_t good_batch(uint8_t *out, ens_addr to, int64_t first, int frames)
{
    memcpy(out, "ENSB\1\0\0\0", 8);
    out[8] = (uint8_t)frames;
    out[9] = out[10] = out[11] = 0;
    size_t off = 12;
    for (int i = 0; i < frames; i++) {
        ens_frame_hdr h = {.target = to, .sender = {7, to.node ^ 1u, 0}, .attempt = 1};
        uint8_t *f = NULL;
        size_t len = 0;
        int64_t v = first + i;
        assert_int_equal(ens__frame_build(&ens_msg_int64, &v, &h, 1u << 20, &f, &len), 0);
        assert_true(off + 4 + len <= BATCH_MAX);
        for (int k = 0; k < 4; k++)
            out[off + (size_t)k] = (uint8_t)(len >> (8 * k));
        memcpy(out + off + 4, f, len);
        off += 4 + len;
        free(f);
    }
    return off;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

/* One hostile batch: the good batch of two frames, then a patch of a byte
 * or a 32-bit length at `at`, then cut to `len` bytes (0: as it is) or
 * `extra` bytes appended. Each must be refused with `rows` BADFRAME rows of
 * B's gateway, the last saying `why`, and no frame of it delivered. */
typedef enum { AS_IS, BYTE, U32, NESTED, JUNK } patch_kind;
typedef struct {
    const char *name;
    patch_kind kind;
    size_t at;
    uint32_t value;
    size_t len, extra;
    int rows;
    const char *why;
} hostile_batch;

static const hostile_batch hostile_batches[] = {
    {"cut inside the head", AS_IS, 0, 0, 7, 0, 1, "shorter than its head"},
    {"unknown version", BYTE, 4, 2, 0, 0, 1, "unknown version"},
    {"a stray head byte", BYTE, 6, 1, 0, 0, 1, "stray head bytes"},
    {"count 0", U32, 8, 0, 0, 0, 1, "says 0 frames"},
    {"count 1 (a lone frame crosses bare)", U32, 8, 1, 0, 0, 1, "says 1 frames"},
    {"a count past what fits", U32, 8, 1000, 0, 0, 1, "says 1000 frames"},
    {"a zero-length entry", U32, 12, 0, 0, 0, 1, "less than a frame header"},
    {"an entry shorter than a header", U32, 12, 10, 0, 0, 1, "less than a frame header"},
    {"a length past the end", U32, 88, 73, 0, 0, 1, "past the end"},
    {"a length of 4 GiB", U32, 12, 0xffffffffu, 0, 0, 1, "past the end"},
    {"cut inside the last frame", AS_IS, 0, 0, 150, 0, 1, "past the end"},
    {"no room for the next length", U32, 12, 146, 0, 0, 1, "cut short before frame 2"},
    {"bytes after the last frame", AS_IS, 0, 0, 0, 5, 1, "after the last frame"},
    {"batches nested in a batch", NESTED, 0, 0, 0, 0, 2, "not a frame this system takes"},
    {"garbage entries", JUNK, 0, 0, 0, 0, 2, "not a frame this system takes"},
};

static size_t hostile_bytes(const hostile_batch *c, ens_addr to, uint8_t *out)
{
    size_t len = good_batch(out, to, 0, 2);
    if (c->kind == BYTE)
        out[c->at] = (uint8_t)c->value;
    else if (c->kind == U32)
        put_u32(out + c->at, c->value);
    else if (c->kind == NESTED || c->kind == JUNK) {
        /* Two entries that pass the batch's own checks (lengths right) but
         * are not frames: whole batches, or bytes of nothing. */
        uint8_t inner[BATCH_MAX];
        size_t n = good_batch(inner, to, 0, 2);
        if (c->kind == JUNK)
            for (size_t i = 0; i < n; i++)
                inner[i] = (uint8_t)(i * 31 + 7);
        assert_true(12 + 2 * (4 + n) <= BATCH_MAX);
        len = 12;
        for (int e = 0; e < 2; e++) {
            put_u32(out + len, (uint32_t)n);
            memcpy(out + len + 4, inner, n);
            len += 4 + n;
        }
    }
    if (c->len != 0)
        len = c->len;
    for (size_t i = 0; i < c->extra; i++)
        out[len++] = 0;
    return len;
}

/* A hostile publisher on B's node subject: garbage, a frame for another
 * node, a frame that claims one of B's own actors as its sender, then
 * batches that lie (hostile_batches). Each is refused with a BADFRAME row
 * of B's gateway and no frame of a refused batch reaches its actor;
 * nothing crashes, a good batch still delivers in order and B answers. */
static void test_garbage_on_the_node_subject_is_refused(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr echo = spawn_on(sys_b, &echo_def);
    ens_addr b = ens_self(ens_system_ctx(sys_b));
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    char subj[96];
    /* Published as node b.node ^ 1, the node the frames below name. */
    snprintf(subj, sizeof(subj), "ens.%s.n.%u.%u", test_conv_name, (unsigned)b.node,
             (unsigned)(b.node ^ 1u));
    uint8_t junk[200];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    assert_int_equal(natsConnection_Publish(nc, subj, junk, sizeof(junk)), NATS_OK);
    assert_int_equal(natsConnection_Publish(nc, subj, junk, 3), NATS_OK);
    uint8_t frame[ENS_FRAME_HEADER_LEN];
    ens_frame_hdr h = {.target = echo, .sender = {7, b.node ^ 1u, 0}, .attempt = 1};
    h.target.node = b.node ^ 1u; /* another node's frame on B's subject */
    ens__frame_hdr_write(&h, frame);
    assert_int_equal(natsConnection_Publish(nc, subj, frame, sizeof(frame)), NATS_OK);
    h.target = echo;
    h.sender = echo; /* B's own actor, from outside B */
    ens__frame_hdr_write(&h, frame);
    assert_int_equal(natsConnection_Publish(nc, subj, frame, sizeof(frame)), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(nc, TEST_WAIT_MS), NATS_OK);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (seen_b.badframes < 4 && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    assert_int_equal(seen_b.badframes, 4);
    assert_non_null(strstr(seen_b.last_bad, "names a sender of this system"));

    ens_addr k = spawn_on(sys_b, &counter_def);
    int rows = seen_b.badframes;
    for (size_t i = 0; i < sizeof(hostile_batches) / sizeof(hostile_batches[0]); i++) {
        const hostile_batch *c = &hostile_batches[i];
        uint8_t bytes[BATCH_MAX + 8];
        size_t len = hostile_bytes(c, k, bytes);
        assert_int_equal(natsConnection_Publish(nc, subj, bytes, (int)len), NATS_OK);
        assert_int_equal(natsConnection_FlushTimeout(nc, TEST_WAIT_MS), NATS_OK);
        rows += c->rows;
        d = test_deadline_in(TEST_WAIT_MS);
        while (seen_b.badframes < rows && !test_deadline_passed(d))
            ens_system_run(sys_b, 50);
        if (seen_b.badframes != rows || strstr(seen_b.last_bad, c->why) == NULL)
            fail_msg("%s: %d rows (want %d), last \"%s\" (want \"%s\")", c->name, seen_b.badframes,
                     rows, seen_b.last_bad, c->why);
    }
    /* A good batch after them all: its three frames, in order, and nothing
     * of the refused ones before them. */
    uint8_t good[BATCH_MAX];
    size_t len = good_batch(good, k, 0, 3);
    assert_int_equal(natsConnection_Publish(nc, subj, good, (int)len), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(nc, TEST_WAIT_MS), NATS_OK);
    natsConnection_Destroy(nc);
    char got[64] = "";
    d = test_deadline_in(TEST_WAIT_MS);
    while (!test_deadline_passed(d)) {
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(ens_system_ctx(sys_b), k, &ens_msg_string, &(ens_string_v){"?"},
                                 TEST_WAIT_MS, &r),
                         0);
        snprintf(got, sizeof(got), "%s",
                 ((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
        ens_msg_free(r);
        long long next = 0, bad = 0;
        assert_int_equal(sscanf(got, "%lld %lld", &next, &bad), 2);
        if (next >= 3 || bad != 0)
            break; /* whole, or a frame of a refused batch came first */
        ens_system_run(sys_b, 50);
    }
    assert_string_equal(got, "3 0");
    assert_int_equal(seen_b.badframes, rows);
    test_expect_echo(ens_system_ctx(sys_a), echo, "still here", TEST_WAIT_MS);
}

/* The admin supervises its gateway: SIGKILLed, it is journaled (a CRASH
 * row of type ens.Gateway) and started again, and a message sent after the
 * new one said it is ready crosses. (What was in flight when it died may
 * be lost: at most once between systems.) */
static void test_a_killed_gateway_is_restarted_and_later_messages_cross(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr echo = spawn_on(sys_b, &echo_def);
    test_expect_echo(ens_system_ctx(sys_a), echo, "before", TEST_WAIT_MS);
    pid_t old = test_conv_gateway_pid(ens_system_options(sys_b)->name);
    assert_true(old > 0);
    assert_int_equal(kill(old, SIGKILL), 0);
    /* The CRASH row is emitted once the new gateway answered its start
     * (connected and subscribed, or why not), so a row that says a new one
     * was started means the restart is over. */
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (seen_b.gateway_crashes == 0 && !test_deadline_passed(d))
        ens_system_run(sys_b, 50);
    assert_int_equal(seen_b.gateway_crashes, 1);
    assert_non_null(strstr(seen_b.last_crash, "killed by signal 9"));
    assert_non_null(strstr(seen_b.last_crash, "a new one was started"));
    pid_t now = test_conv_gateway_pid(ens_system_options(sys_b)->name);
    assert_true(now > 0);
    assert_int_not_equal(now, old);
    test_expect_echo(ens_system_ctx(sys_a), echo, "after the restart", TEST_WAIT_MS);
    /* And the other way: B's actors reach A through the new gateway. */
    ens_addr echo_a = spawn_on(sys_a, &echo_def);
    test_expect_echo(ens_system_ctx(sys_b), echo_a, "from B again", TEST_WAIT_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nats_helper_starts_and_stops_a_server),
        cmocka_unit_test(test_convention_options_refused_on_inproc),
        cmocka_unit_test(test_bad_convention_options_refused),
        cmocka_unit_test(test_bad_capabilities_refused),
        cmocka_unit_test_setup_teardown(
            test_each_member_has_its_own_node_and_a_single_threaded_admin, members_setup,
            members_teardown),
        cmocka_unit_test_setup_teardown(
            test_ask_from_the_outside_of_one_system_to_an_actor_of_another, members_setup,
            members_teardown),
        cmocka_unit_test_setup_teardown(test_ten_thousand_tells_arrive_complete_and_in_order,
                                        members_setup, members_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_receiver_behind_a_small_mailbox_gets_every_tell_in_order, members_setup_small_b,
            members_teardown),
        cmocka_unit_test_setup_teardown(test_an_actor_requests_an_actor_of_another_system,
                                        members_setup, members_teardown),
        cmocka_unit_test_setup_teardown(test_a_message_to_an_unknown_node_is_a_dead_letter,
                                        members_setup, members_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_on_the_node_subject_is_refused, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_gateway_is_restarted_and_later_messages_cross,
                                        members_setup, members_teardown),
    };
    return cmocka_run_group_tests(tests, test_conv_group_setup, test_conv_group_teardown);
}

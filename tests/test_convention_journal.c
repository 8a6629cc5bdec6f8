/*
 * tests/test_convention_journal.c - the failure journal across a
 * convention (ensemble/journal.h, ens_journal_query_convention; the
 * gateway's answerer in core/process/gateway/gateway_journal.c). Three
 * systems with journals and a fourth without, on one private nats-server
 * (tests/support/nats_server.h): an actor that fails twice on each makes
 * poison rows; `ens journal --convention` shows the rows of all three
 * merged by time with node and host; a member whose gateway is stopped
 * (SIGSTOP) is named as not answering while the others' rows still come;
 * membership changes are rows (unreachable, rejoined); garbage requests on
 * the journal subject are refused and the answerer goes on. The request
 * decoder's refusals are also checked without a server. Skipped, with a
 * message, when nats-server is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_journal.h"
#include "core/runtime/caps.h"
#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/json_doc.h"
#include "support/nats_server.h"
#include "support/scratch.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define HEARTBEAT_MS 300u
#define NSYS         4 /* A, B, C with journals; D without */

static test_nats server;
static char conv_name[32];
static char dir[64];
static char names[NSYS][32];
static char paths[NSYS][128];
static ens_system *sys[NSYS];
static pid_t stopped_gateway; /* continued at teardown if a test fails meanwhile */
static char *out_text;

typedef struct {
    int32_t op;
} cmd_v;
static ens_msgtype cmd_t = {"cj.Cmd", "S(i)", sizeof(cmd_v), 0, 0, NULL};

/* Fails every message: error, retry, error, poison. */
static int failer_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)c;
    (void)st;
    return ens_msg_value(m, &cmd_t) != NULL ? ENS_EIO : 0;
}

static const ens_actor_def failer_def = {"cj.Failer", 0,    NULL, failer_receive, NULL, NULL,
                                         NULL,        NULL, NULL};

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "j%d", (int)getpid());
    snprintf(dir, sizeof(dir), "/tmp/ens-cj-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    for (int i = 0; i < NSYS; i++) {
        snprintf(names[i], sizeof(names[i]), "cj-%d-%c", (int)getpid(), 'a' + i);
        snprintf(paths[i], sizeof(paths[i]), "%s/%c.db", dir, 'a' + i);
    }
    if (ens_msgtype_register(&cmd_t) != 0)
        return -1;
    return test_nats_start(&server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (stopped_gateway > 0)
        kill(stopped_gateway, SIGCONT);
    for (int i = 0; i < NSYS; i++)
        if (sys[i] != NULL)
            ens_system_stop(sys[i], 5000);
    test_nats_stop(&server);
    if (dir[0] != '\0')
        test_tree_remove(dir);
    free(out_text);
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server.pid == 0) {                                                                     \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static pid_t gateway_pid(const char *name)
{
    return test_conv_gateway_pid(name);
}

/* Run the built ens with args; its stdout and stderr in out_text; returns
 * its exit status. */
static int run_ens(const char *const *args)
{
    return test_conv_run_tool(ENS_TOOL_PATH, args, NULL, &out_text);
}

/* ---- reading one system's journal file -------------------------------- */

typedef struct found {
    const char *needle; /* in the reason; NULL: any row */
    int rows;
    uint32_t node;
    char host[256];
} found;

static int find_row(const ens_journal_row *row, void *arg)
{
    found *f = arg;
    if (f->needle != NULL && strstr(row->ev.reason, f->needle) == NULL)
        return 0;
    f->rows++;
    f->node = row->node;
    snprintf(f->host, sizeof(f->host), "%s", row->host);
    return 0;
}

/* Rows of kind in system i's journal whose reason holds needle (NULL:
 * any); the last one's node and host in *f. */
static int journal_rows(int i, ens_event_kind kind, const char *needle, found *f)
{
    memset(f, 0, sizeof(*f));
    f->needle = needle;
    ens_journal *j = NULL;
    if (ens_journal_open(paths[i], &j) != 0)
        return 0;
    ens_journal_filter flt = ENS_JOURNAL_FILTER_INIT;
    flt.kinds = 1u << kind;
    ens_journal_query(j, &flt, find_row, f);
    ens_journal_close(j);
    return f->rows;
}

static void wait_rows(int i, ens_event_kind kind, const char *needle, found *f)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (journal_rows(i, kind, needle, f) == 0) {
        if (test_deadline_passed(d))
            fail_msg("system %s journaled no %s row with \"%s\"", names[i],
                     ens_event_kind_name(kind), needle != NULL ? needle : "");
        ens_system_run(sys[0], 50); /* the journal is written by another process: poll */
    }
}

/* The JSON rows of out_text written by system: their count; the last
 * one's node and host in *node and host. */
static int json_rows(const char *system, uint32_t *node, char *host, size_t host_len)
{
    json_t *rows, *root = json_doc_within(out_text, "journal", &rows);
    int n = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *from = json_text(row, "system");
        if (from == NULL || strcmp(from, system) != 0)
            continue;
        n++;
        *node = (uint32_t)json_num(row, "node");
        const char *h = json_text(row, "host");
        assert_non_null(h);
        snprintf(host, host_len, "%s", h);
    }
    json_decref(root);
    return n;
}

/* True if the JSON rows of out_text come newest first. */
static bool newest_first(void)
{
    json_t *rows, *root = json_doc_within(out_text, "journal", &rows);
    long long prev = -1;
    bool ok = true;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        long long ms = json_num(row, "at_ms");
        if (prev >= 0 && ms > prev)
            ok = false;
        prev = ms;
    }
    json_decref(root);
    return ok;
}

/* ---- the request decoder, without a server ---------------------------- */

static size_t put(uint8_t *b, size_t at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b[at + (size_t)i] = (uint8_t)(v >> (8 * i));
    return at + (size_t)bytes;
}

/* A request by hand: fields as given, the two texts with their lengths. */
static size_t hand_request(uint8_t *b, uint32_t kinds, int64_t since, uint32_t limit,
                           const char *t1, size_t l1, uint16_t claimed1)
{
    memcpy(b, "EJQ1", 4);
    size_t at = 4;
    at = put(b, at, 1, 4);  /* actor.node */
    at = put(b, at, 16, 8); /* actor.id */
    at = put(b, at, kinds, 4);
    at = put(b, at, (uint64_t)since, 8);
    at = put(b, at, 0, 8);
    at = put(b, at, limit, 4);
    at = put(b, at, claimed1, 2);
    memcpy(b + at, t1, l1);
    at += l1;
    at = put(b, at, 0, 2);
    return at;
}

static void test_hostile_requests_are_refused_by_the_decoder(void **state)
{
    (void)state;
    uint8_t b[4096];
    ens_journal_filter f;
    char texts[2][ENS_GW_JOURNAL_TEXT_MAX + 1];
    char why[256];
    /* A good one decodes; limit 0 means the bound. */
    size_t n = hand_request(b, 1u << ENS_EV_POISON, 5, 0, "cj.Failer", 9, 9);
    assert_int_equal(ens__gw_journal_decode_request(b, n, &f, texts, why, sizeof(why)), 0);
    assert_string_equal(f.actor_type, "cj.Failer");
    assert_null(f.msg_type);
    assert_int_equal(f.limit, ENS_GW_JOURNAL_ROWS_MAX);
    assert_int_equal(f.actor.id, 16);
    /* What the encoder makes decodes to the same filter. */
    ens_journal_filter g = ENS_JOURNAL_FILTER_INIT;
    g.msg_type = "cj.Cmd";
    g.kinds = 1u << ENS_EV_MEMBER;
    g.until_ms = 99;
    int len = ens__gw_journal_encode_request(&g, b, sizeof(b));
    assert_true(len > 0);
    assert_int_equal(ens__gw_journal_decode_request(b, (size_t)len, &f, texts, why, sizeof(why)),
                     0);
    assert_string_equal(f.msg_type, "cj.Cmd");
    assert_int_equal(f.kinds, 1u << ENS_EV_MEMBER);
    assert_int_equal(f.until_ms, 99);
    assert_int_equal(f.limit, 1000);

    typedef struct bad_case {
        const char *what;
        size_t len;
        const char *why;
    } bad_case;
    bad_case bad[16];
    size_t nb = 0;
    uint8_t cases[16][2048];
    /* not a request at all */
    memcpy(cases[nb], "hello", 5);
    bad[nb++] = (bad_case){"garbage", 5, "not a journal request"};
    /* empty */
    bad[nb++] = (bad_case){"empty", 0, "not a journal request"};
    /* cut inside the fixed fields */
    n = hand_request(cases[nb], 0, 0, 10, "", 0, 0);
    bad[nb++] = (bad_case){"truncated", 20, "truncated"};
    /* a text claiming more bytes than there are */
    n = hand_request(cases[nb], 0, 0, 10, "ab", 2, 500);
    bad[nb++] = (bad_case){"claimed length", n, "truncated"};
    /* a text past the bound */
    static char long_name[400];
    memset(long_name, 'x', sizeof(long_name));
    n = hand_request(cases[nb], 0, 0, 10, long_name, 300, 300);
    bad[nb++] = (bad_case){"long name", n, "too long"};
    /* a NUL inside a text */
    n = hand_request(cases[nb], 0, 0, 10, "a\0b", 3, 3);
    bad[nb++] = (bad_case){"NUL", n, "NUL"};
    /* a kinds bit that names no kind */
    n = hand_request(cases[nb], 1u << 31, 0, 10, "", 0, 0);
    bad[nb++] = (bad_case){"kinds", n, "names no event kind"};
    n = hand_request(cases[nb], 1u, 0, 10, "", 0, 0); /* bit 0: no kind either */
    bad[nb++] = (bad_case){"kind 0", n, "names no event kind"};
    /* a limit past the bound */
    n = hand_request(cases[nb], 0, 0, ENS_GW_JOURNAL_ROWS_MAX + 1, "", 0, 0);
    bad[nb++] = (bad_case){"limit", n, "limit"};
    /* a negative time */
    n = hand_request(cases[nb], 0, -5, 10, "", 0, 0);
    bad[nb++] = (bad_case){"time", n, "1970"};
    /* bytes after the request */
    n = hand_request(cases[nb], 0, 0, 10, "", 0, 0);
    cases[nb][n] = 'z';
    bad[nb++] = (bad_case){"trailing", n + 1, "after the request"};
    /* past the size bound */
    memset(cases[nb], 0, sizeof(cases[nb]));
    memcpy(cases[nb], "EJQ1", 4);
    bad[nb++] = (bad_case){"oversize", ENS_GW_JOURNAL_REQUEST_MAX + 1, "at most"};
    for (size_t i = 0; i < nb; i++) {
        why[0] = '\0';
        int rc = ens__gw_journal_decode_request(cases[i], bad[i].len, &f, texts, why, sizeof(why));
        if (rc != ENS_EBADFRAME || strstr(why, bad[i].why) == NULL)
            fail_msg("%s: rc %d why \"%s\"", bad[i].what, rc, why);
    }
    /* A type name too long is refused by the encoder too. */
    long_name[sizeof(long_name) - 1] = '\0';
    g.actor_type = long_name;
    assert_int_equal(ens__gw_journal_encode_request(&g, b, sizeof(b)), ENS_EINVAL);
}

static int no_rows(const ens_journal_row *row, void *arg)
{
    (void)row;
    (void)arg;
    fail_msg("a row where none may come");
    return 1;
}

/* What ens_journal_query_convention gave. */
typedef struct merged {
    int rows;
    int64_t last_ms;
    bool ordered;
    int missing, no_journal;
} merged;

static int merge_row(const ens_journal_row *row, void *arg)
{
    merged *m = arg;
    if (m->rows > 0 && row->ev.at_ms > m->last_ms)
        m->ordered = false;
    m->last_ms = row->ev.at_ms;
    m->rows++;
    assert_true(row->node != 0);
    assert_int_equal(row->ev.kind, ENS_EV_POISON);
    return 0;
}

static void merge_missing(uint32_t node, const char *system, const char *host, int status,
                          const char *why, void *arg)
{
    (void)node;
    (void)host;
    (void)why;
    merged *m = arg;
    if (status == ENS_ENOENT && strcmp(system, names[3]) == 0)
        m->no_journal++;
    else
        m->missing++;
}

/* ---- the convention ----------------------------------------------------- */

static void start_all(void)
{
    for (int i = 0; i < NSYS; i++) {
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.name = names[i];
        o.journal_path = i < 3 ? paths[i] : "";
        o.log_path = "/dev/null";
        o.convention.servers = server.url;
        o.convention.name = conv_name;
        o.convention.heartbeat_ms = HEARTBEAT_MS;
        assert_int_equal(ens_system_start(&o, &sys[i]), 0);
    }
}

/* The status of an answer chunk to a request sent by hand. */
static int32_t ask_raw(natsConnection *nc, const char *subject, const void *data, int len)
{
    natsMsg *reply = NULL;
    natsStatus st = natsConnection_Request(&reply, nc, subject, data, len, TEST_WAIT_MS);
    if (st != NATS_OK)
        fail_msg("no answer on %s: %s", subject, natsStatus_GetText(st));
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(reply);
    assert_true(natsMsg_GetDataLength(reply) >= 17);
    assert_memory_equal(p, "EJA1", 4);
    int32_t status = (int32_t)((uint32_t)p[9] | (uint32_t)p[10] << 8 | (uint32_t)p[11] << 16 |
                               (uint32_t)p[12] << 24);
    natsMsg_Destroy(reply);
    return status;
}

static void test_rows_of_every_member_merged_and_a_stopped_member_named(void **state)
{
    (void)state;
    NEED_SERVER();
    start_all();
    /* Each of A, B and C poisons one message: error, retry, error, poison. */
    for (int i = 0; i < 3; i++) {
        ens_ctx *out = ens_system_ctx(sys[i]);
        ens_addr w;
        assert_int_equal(ens_spawn(out, &failer_def, NULL, NULL, &w), 0);
        ens_msg *r = NULL;
        cmd_v c = {1};
        assert_int_equal(ens_ask(out, w, &cmd_t, &c, TEST_WAIT_MS, &r), ENS_EPOISON);
        ens_msg_free(r);
    }
    char host[256];
    ens__caps_host(host, sizeof(host));
    uint32_t node[3];
    for (int i = 0; i < 3; i++) {
        found f;
        wait_rows(i, ENS_EV_POISON, NULL, &f);
        assert_int_equal(f.rows, 1);
        assert_true(f.node != 0); /* the writer's node */
        assert_string_equal(f.host, host);
        node[i] = f.node;
    }
    assert_true(node[0] != node[1] && node[1] != node[2] && node[0] != node[2]);
    /* A saw the others join: member rows. */
    for (int i = 1; i < NSYS; i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "system %s", names[i]);
        found f;
        wait_rows(0, ENS_EV_MEMBER, needle, &f);
        assert_int_equal(journal_rows(0, ENS_EV_MEMBER, "joined: node", &f) >= 3, true);
    }

    /* Every member answers: three poison rows, merged newest first, each
     * with its node and host; D has no journal (said, not an error). */
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats",
                                                   server.url, "--kind", "poison", "--json", NULL}),
                     0);
    assert_true(newest_first());
    for (int i = 0; i < 3; i++) {
        uint32_t n = 0;
        char h[256] = "";
        if (json_rows(names[i], &n, h, sizeof(h)) != 1)
            fail_msg("no row of %s in: %s", names[i], out_text);
        assert_int_equal(n, node[i]);
        assert_string_equal(h, host);
    }
    assert_non_null(strstr(out_text, "has no journal"));
    assert_non_null(strstr(out_text, names[3]));
    /* All kinds, as a table: the NODE and HOST columns, rows of the three. */
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats",
                                                   server.url, "--limit", "0", NULL}),
                     0);
    assert_non_null(strstr(out_text, "NODE"));
    assert_non_null(strstr(out_text, "HOST"));
    assert_non_null(strstr(out_text, "poison"));
    assert_non_null(strstr(out_text, "member"));
    /* A list of servers (the first refuses: nothing listens there), as a
     * host of a cluster gives it: the next one answers. */
    char list[512];
    snprintf(list, sizeof(list), "nats://127.0.0.1:1,%s", server.url);
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats",
                                                   list, "--kind", "poison", NULL}),
                     0);
    assert_non_null(strstr(out_text, "poison"));

    /* The public call: the same merge; the limit holds across members. */
    merged m = {.ordered = true};
    ens_journal_filter pf = ENS_JOURNAL_FILTER_INIT;
    pf.kinds = 1u << ENS_EV_POISON;
    pf.limit = 2;
    assert_int_equal(ens_journal_query_convention(server.url, conv_name, &pf, TEST_WAIT_MS,
                                                  merge_row, &m, merge_missing, &m),
                     2);
    assert_int_equal(m.rows, 2);
    assert_true(m.ordered);
    assert_int_equal(m.no_journal, 1);
    assert_int_equal(m.missing, 0);
    /* No such convention: no members bucket. */
    assert_int_equal(ens_journal_query_convention(server.url, "nobody", &pf, TEST_WAIT_MS, no_rows,
                                                  NULL, NULL, NULL),
                     ENS_ENOENT);

    /* B's gateway stops (SIGSTOP): B is named as not answering, exit
     * status 1; A's and C's rows still come. */
    pid_t gw = gateway_pid(names[1]);
    assert_true(gw > 0);
    stopped_gateway = gw;
    assert_int_equal(kill(gw, SIGSTOP), 0);
    assert_int_equal(
        run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats", server.url,
                                      "--kind", "poison", "--json", "--timeout", "5000", NULL}),
        1);
    uint32_t n = 0;
    char h[256];
    assert_int_equal(json_rows(names[0], &n, h, sizeof(h)), 1);
    assert_int_equal(json_rows(names[2], &n, h, sizeof(h)), 1);
    assert_int_equal(json_rows(names[1], &n, h, sizeof(h)), 0);
    char said[512];
    snprintf(said, sizeof(said), "node %u (system %s on host %s) did not answer within 5000 ms",
             (unsigned)node[1], names[1], host);
    if (strstr(out_text, said) == NULL)
        fail_msg("B not named as missing: %s", out_text);
    /* Its heartbeats stopped too: A journals it unreachable, and rejoined
     * once it runs again. */
    char needle[96];
    snprintf(needle, sizeof(needle), "unreachable: node %u,", (unsigned)node[1]);
    found f;
    wait_rows(0, ENS_EV_MEMBER, needle, &f);
    assert_int_equal(kill(gw, SIGCONT), 0);
    stopped_gateway = 0;
    snprintf(needle, sizeof(needle), "rejoined: node %u,", (unsigned)node[1]);
    wait_rows(0, ENS_EV_MEMBER, needle, &f);
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats",
                                                   server.url, "--kind", "poison", "--json", NULL}),
                     0);
    assert_int_equal(json_rows(names[1], &n, h, sizeof(h)), 1);
}

static void test_garbage_on_the_journal_subject_is_refused(void **state)
{
    (void)state;
    NEED_SERVER();
    if (sys[0] == NULL)
        start_all();
    found f;
    wait_rows(0, ENS_EV_MEMBER, NULL, &f);
    char subject[128];
    snprintf(subject, sizeof(subject), "ens.%s.journal.%u", conv_name, (unsigned)f.node);
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, server.url), NATS_OK);
    /* Without a reply subject: nothing to answer, nothing breaks. */
    assert_int_equal(natsConnection_Publish(nc, subject, "junk", 4), NATS_OK);
    uint8_t b[4096];
    assert_int_equal(ask_raw(nc, subject, "hello", 5), ENS_EBADFRAME);
    assert_int_equal(ask_raw(nc, subject, "", 0), ENS_EBADFRAME);
    memset(b, 0xff, sizeof(b));
    memcpy(b, "EJQ1", 4);
    assert_int_equal(ask_raw(nc, subject, b, 40), ENS_EBADFRAME);        /* lengths past the end */
    assert_int_equal(ask_raw(nc, subject, b, sizeof(b)), ENS_EBADFRAME); /* past the bound */
    size_t n = hand_request(b, 1u << 31, 0, 10, "", 0, 0);
    assert_int_equal(ask_raw(nc, subject, b, (int)n), ENS_EBADFRAME);
    n = hand_request(b, 0, 0, 0xffffffffu, "", 0, 0);
    assert_int_equal(ask_raw(nc, subject, b, (int)n), ENS_EBADFRAME);
    n = hand_request(b, 0, 0, 10, "a\0b", 3, 3);
    assert_int_equal(ask_raw(nc, subject, b, (int)n), ENS_EBADFRAME);
    /* The answerer goes on: a good request is answered. */
    ens_journal_filter g = ENS_JOURNAL_FILTER_INIT;
    int len = ens__gw_journal_encode_request(&g, b, sizeof(b));
    assert_true(len > 0);
    assert_int_equal(ask_raw(nc, subject, b, len), 0);
    natsConnection_Destroy(nc);
    /* D (no journal) says so. */
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", conv_name, "--nats",
                                                   server.url, "--kind", "member", NULL}),
                     0);
    assert_non_null(strstr(out_text, "has no journal"));
}

/* ---- a rogue member: answers that are not to be believed ---------------- */

enum { ROGUE_MAGIC, ROGUE_INDEX, ROGUE_ROWS, ROGUE_TEXT, ROGUE_STATUS, ROGUE_SILENT, ROGUE_N };

static int rogue_mode;

static void rogue_answer(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    uint8_t b[256];
    memset(b, 0, sizeof(b));
    memcpy(b, "EJA1", 4);
    size_t n = 17;
    b[8] = 1; /* last */
    switch (rogue_mode) {
    case ROGUE_MAGIC:
        memcpy(b, "NOPE", 4);
        break;
    case ROGUE_INDEX:
        b[4] = 5; /* chunk 5 first */
        break;
    case ROGUE_ROWS:
        b[13] = 3; /* three rows, no bytes for them */
        break;
    case ROGUE_TEXT: {
        b[13] = 1; /* one row whose first text claims 60000 bytes */
        n = put(b, 17, 1, 8);
        n = put(b, n, 1, 8);
        n += 4 + 4 + 3 * 12 + 5 * 4;
        n = put(b, n, 60000, 2);
        break;
    }
    case ROGUE_STATUS:
        b[9] = 7; /* a positive status */
        break;
    default:
        natsMsg_Destroy(msg);
        return; /* silent */
    }
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), b, (int)n);
    natsMsg_Destroy(msg);
}

typedef struct rogue_seen {
    int rows;
    int status; /* node 99's, 0 if not named */
} rogue_seen;

static int rogue_row(const ens_journal_row *row, void *arg)
{
    (void)row;
    ((rogue_seen *)arg)->rows++;
    return 0;
}

static void rogue_missing(uint32_t node, const char *system, const char *host, int status,
                          const char *why, void *arg)
{
    (void)system;
    (void)host;
    (void)why;
    if (node == 99)
        ((rogue_seen *)arg)->status = status;
}

static void test_a_rogue_members_answers_are_refused(void **state)
{
    (void)state;
    NEED_SERVER();
    if (sys[0] == NULL)
        start_all();
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    char bucket[64], subject[96];
    snprintf(bucket, sizeof(bucket), "ens-%s-members", conv_name);
    snprintf(subject, sizeof(subject), "ens.%s.journal.99", conv_name);
    assert_int_equal(natsConnection_ConnectTo(&nc, server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    assert_int_equal(
        kvStore_PutString(NULL, kv, "99", "system=rogue\nhost=h\nheartbeat_ms=60000\n"), NATS_OK);
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_Subscribe(&sub, nc, subject, rogue_answer, NULL), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_POISON;
    for (rogue_mode = 0; rogue_mode < ROGUE_N; rogue_mode++) {
        rogue_seen seen = {0, 0};
        uint32_t wait = rogue_mode == ROGUE_SILENT ? 5000 : TEST_WAIT_MS;
        int rc = ens_journal_query_convention(server.url, conv_name, &f, wait, rogue_row, &seen,
                                              rogue_missing, &seen);
        /* The others' rows come; the rogue gives none and is named. */
        if (rc != 3 || seen.rows != 3 ||
            seen.status != (rogue_mode == ROGUE_SILENT ? ENS_ETIMEDOUT : ENS_EBADFRAME))
            fail_msg("mode %d: rc %d rows %d status %d", rogue_mode, rc, seen.rows, seen.status);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    kvStore_Purge(kv, "99", NULL);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void test_cli_refusals(void **state)
{
    (void)state;
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", "x", NULL}), 2);
    assert_non_null(strstr(out_text, "no NATS server"));
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", "x", "--nats",
                                                   "nats://127.0.0.1:1", "--db", "/x", NULL}),
                     2);
    assert_int_equal(
        run_ens((const char *const[]){"journal", "--convention", "x", "--nats",
                                      "nats://127.0.0.1:1", "--count-by", "kind", NULL}),
        2);
    assert_int_equal(run_ens((const char *const[]){"journal", "--convention", "x", "--nats",
                                                   "nats://127.0.0.1:1", "--timeout", "0", NULL}),
                     2);
    /* Bad names are refused by the call itself. */
    assert_int_equal(ens_journal_query_convention("nats://127.0.0.1:1", "a.b", NULL, 100, no_rows,
                                                  NULL, NULL, NULL),
                     ENS_EINVAL);
    assert_int_equal(ens_journal_query_convention("nats://127.0.0.1:1", "", NULL, 100, no_rows,
                                                  NULL, NULL, NULL),
                     ENS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_requests_are_refused_by_the_decoder),
        cmocka_unit_test(test_cli_refusals),
        cmocka_unit_test(test_rows_of_every_member_merged_and_a_stopped_member_named),
        cmocka_unit_test(test_garbage_on_the_journal_subject_is_refused),
        cmocka_unit_test(test_a_rogue_members_answers_are_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

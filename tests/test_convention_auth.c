/*
 * tests/test_convention_auth.c - a convention whose NATS server asks for
 * credentials or TLS (process base): each test starts a private nats-server
 * with a configuration file (tests/support/nats_server.h). The right user
 * and password, token, or CA join and a message crosses between two
 * systems; a wrong one makes ens_system_start fail with ENS_EAUTH and NATS's
 * reason in ens_errmsg, with no process of the system left. The TLS
 * certificates are made in a scratch directory by the openssl command.
 * Skipped, with a message, without nats-server or openssl.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/echo.h"
#include "support/nats_server.h"
#include "support/procfs.h"

#include "ensemble/ensemble.h"

static test_nats server;
static char conv_name[32];
static char certs[64]; /* scratch directory of the CA and certificates ("": none) */
static ens_system *sys_a, *sys_b;

static const ens_actor_def echo_def = {"auth.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,        NULL, NULL};

static const char *openssl_program(void)
{
    static const char *const where[] = {"/usr/bin/openssl", "/usr/local/bin/openssl"};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

#define NEED(cond, what)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_message("%s is not installed: skipped\n", what);                                 \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Run argv (a program and its arguments, NULL-ended) with its output
 * thrown away; true when it exits 0. */
static bool run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void path_in(char *buf, size_t len, const char *file)
{
    snprintf(buf, len, "%s/%s", certs, file);
}

/* A CA (ca.pem), and a server certificate signed by it (NAME.pem,
 * NAME.key) whose subjectAltName is `san`. */
static void make_ca(void)
{
    const char *ssl = openssl_program();
    char key[96], pem[96];
    path_in(key, sizeof(key), "ca.key");
    path_in(pem, sizeof(pem), "ca.pem");
    char *const argv[] = {
        (char *)ssl, "req",  "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
        key,         "-out", pem,     "-days",   "2",        "-subj",  "/CN=ensemble test CA",
        NULL};
    assert_true(run(argv));
}

static void make_server_cert(const char *name, const char *san)
{
    const char *ssl = openssl_program();
    char key[96], csr[96], pem[96], ext[96], ca[96], ca_key[96], serial[96];
    char file[32];
    snprintf(file, sizeof(file), "%s.key", name);
    path_in(key, sizeof(key), file);
    snprintf(file, sizeof(file), "%s.csr", name);
    path_in(csr, sizeof(csr), file);
    snprintf(file, sizeof(file), "%s.pem", name);
    path_in(pem, sizeof(pem), file);
    snprintf(file, sizeof(file), "%s.ext", name);
    path_in(ext, sizeof(ext), file);
    path_in(ca, sizeof(ca), "ca.pem");
    path_in(ca_key, sizeof(ca_key), "ca.key");
    path_in(serial, sizeof(serial), "ca.srl");
    FILE *f = fopen(ext, "w");
    assert_non_null(f);
    fprintf(f, "subjectAltName=%s\n", san);
    assert_int_equal(fclose(f), 0);
    char *const req[] = {(char *)ssl,
                         "req",
                         "-newkey",
                         "rsa:2048",
                         "-nodes",
                         "-keyout",
                         key,
                         "-out",
                         csr,
                         "-subj",
                         "/CN=ensemble test server",
                         NULL};
    assert_true(run(req));
    char *const sign[] = {(char *)ssl, "x509",      "-req",  "-in",
                          csr,         "-CA",       ca,      "-CAkey",
                          ca_key,      "-CAserial", serial,  "-CAcreateserial",
                          "-out",      pem,         "-days", "2",
                          "-extfile",  ext,         NULL};
    assert_true(run(sign));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(conv_name, sizeof(conv_name), "auth%d", (int)getpid());
    /* Whatever a refused system leaves behind comes to this process, so
     * the tests can see that nothing does. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    if (sys_a != NULL)
        ens_system_stop(sys_a, 5000);
    if (sys_b != NULL)
        ens_system_stop(sys_b, 5000);
    sys_a = sys_b = NULL;
    test_nats_stop(&server);
    if (certs[0] != '\0')
        nftw(certs, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    certs[0] = '\0';
    return 0;
}

static void start_server(const char *config)
{
    assert_int_equal(test_nats_start_with(&server, config, TEST_WAIT_MS), 0);
}

static void new_certs(void)
{
    snprintf(certs, sizeof(certs), "/tmp/ens-certs-XXXXXX");
    assert_non_null(mkdtemp(certs));
    make_ca();
}

static int start(const ens_convention_opts *c, ens_system **out)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_path = "/dev/null";
    o.convention = *c;
    o.convention.servers = c->servers != NULL ? c->servers : server.url;
    o.convention.name = conv_name;
    *out = NULL;
    return ens_system_start(&o, out);
}

/* Two systems with the same options join, and an ask crosses from A to an
 * actor of B. */
static void expect_two_join_and_talk(const ens_convention_opts *c)
{
    assert_int_equal(start(c, &sys_a), 0);
    assert_int_equal(start(c, &sys_b), 0);
    ens_addr echo = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_b), &echo_def, NULL, NULL, &echo), 0);
    test_expect_echo(ens_system_ctx(sys_a), echo, "with credentials", TEST_WAIT_MS);
}

/* No process of a refused system is left: none of this process's children
 * (the admin, and through the subreaper what it forked: gateway, zygote,
 * actors) is an ensemble process once each has ended and been reaped. */
static void expect_nothing_left(void)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    int pids[16];
    int n = 0;
    while ((n = test_children_named((int)getpid(), "ens", pids, 16)) > 0 &&
           !test_deadline_passed(d)) {
        for (int i = 0; i < n && i < 16; i++)
            if (test_gone_within(pids[i], 100))
                waitpid(pids[i], NULL, 0);
    }
    assert_int_equal(n, 0);
}

static void expect_refused(const ens_convention_opts *c, const char *reason)
{
    ens_system *s = NULL;
    int rc = start(c, &s);
    if (rc != ENS_EAUTH)
        fail_msg("start: %s (want ENS_EAUTH), ens_errmsg \"%s\"", ens_err_name(rc), ens_errmsg());
    assert_null(s);
    if (strstr(ens_errmsg(), reason) == NULL)
        fail_msg("ens_errmsg \"%s\" does not say \"%s\"", ens_errmsg(), reason);
    expect_nothing_left();
}

static void test_user_and_password(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    start_server("authorization { user: alice, password: s3cret }\n");
    expect_two_join_and_talk(&(ens_convention_opts){.user = "alice", .password = "s3cret"});
}

static void test_a_wrong_password_is_ens_eauth_with_the_reason(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    start_server("authorization { user: alice, password: s3cret }\n");
    expect_refused(&(ens_convention_opts){.user = "alice", .password = "wrong"},
                   "Authorization Violation");
    /* No credentials at all: the same. */
    expect_refused(&(ens_convention_opts){0}, "Authorization Violation");
}

static void test_token_right_and_wrong(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    start_server("authorization { token: t0ken-of-the-test }\n");
    expect_refused(&(ens_convention_opts){.token = "not-the-token"}, "Authorization Violation");
    expect_two_join_and_talk(&(ens_convention_opts){.token = "t0ken-of-the-test"});
}

static void tls_server(const char *cert)
{
    char config[512], pem[96], key[96], file[32];
    snprintf(file, sizeof(file), "%s.pem", cert);
    path_in(pem, sizeof(pem), file);
    snprintf(file, sizeof(file), "%s.key", cert);
    path_in(key, sizeof(key), file);
    snprintf(config, sizeof(config), "tls { cert_file: \"%s\", key_file: \"%s\" }\n", pem, key);
    start_server(config);
}

static void test_tls_with_the_ca_works(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    NEED(openssl_program() != NULL, "openssl");
    new_certs();
    make_server_cert("loopback", "IP:127.0.0.1,DNS:localhost");
    tls_server("loopback");
    char ca[96];
    path_in(ca, sizeof(ca), "ca.pem");
    expect_two_join_and_talk(&(ens_convention_opts){.tls_ca = ca});
}

static void test_tls_with_a_mismatched_name_is_ens_eauth(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    NEED(openssl_program() != NULL, "openssl");
    new_certs();
    make_server_cert("elsewhere", "DNS:elsewhere.invalid");
    tls_server("elsewhere");
    char ca[96];
    path_in(ca, sizeof(ca), "ca.pem");
    expect_refused(&(ens_convention_opts){.tls_ca = ca}, "mismatch");
}

static void test_tls_without_the_ca_is_ens_eauth(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    NEED(openssl_program() != NULL, "openssl");
    new_certs();
    make_server_cert("loopback", "IP:127.0.0.1,DNS:localhost");
    tls_server("loopback");
    /* The system trusts another CA: the server's certificate is not
     * verified. */
    char other[96];
    path_in(other, sizeof(other), "loopback.pem");
    expect_refused(&(ens_convention_opts){.tls_ca = other}, "certificate");
}

/* The README's example: two conventions isolated in two accounts, each
 * member user allowed to publish only its convention's subjects and the
 * JetStream API of its account. Both systems of LAB join and talk; a
 * system of the same convention name in the other account is a stranger
 * to them (its ask to LAB's actor finds no such node); a user allowed
 * only the JetStream API (to read the buckets) cannot be a member:
 * ENS_EAUTH with NATS's permissions violation. */
static const char accounts_config[] =
    "accounts {\n"
    "  LAB: {\n"
    "    jetstream: enabled\n"
    "    users: [\n"
    "      { user: lab-a, password: pa, permissions: {\n"
    "          publish: [\"ens.CONV.>\", \"$JS.>\", \"$KV.>\", \"_INBOX.>\"],\n"
    "          subscribe: [\"ens.CONV.>\", \"_INBOX.>\"] } }\n"
    "      { user: lab-b, password: pb, permissions: {\n"
    "          publish: [\"ens.CONV.>\", \"$JS.>\", \"$KV.>\", \"_INBOX.>\"],\n"
    "          subscribe: [\"ens.CONV.>\", \"_INBOX.>\"] } }\n"
    "      { user: lab-watch, password: pw, permissions: {\n"
    "          publish: [\"$JS.API.>\"], subscribe: [\"_INBOX.>\"] } }\n"
    "    ]\n"
    "  }\n"
    "  PROD: {\n"
    "    jetstream: enabled\n"
    "    users: [ { user: prod-a, password: pp } ]\n"
    "  }\n"
    "}\n";

static void test_accounts_isolate_conventions(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    /* The convention's name in the subjects of the permissions. */
    char config[sizeof(accounts_config) + 64];
    const char *from = accounts_config;
    size_t at = 0;
    for (const char *hit; (hit = strstr(from, "CONV")) != NULL; from = hit + 4) {
        at += (size_t)snprintf(config + at, sizeof(config) - at, "%.*s%s", (int)(hit - from), from,
                               conv_name);
    }
    snprintf(config + at, sizeof(config) - at, "%s", from);
    start_server(config);
    /* A user without the members' permissions cannot be one (checked
     * first: nothing else of this test runs yet). */
    expect_refused(&(ens_convention_opts){.user = "lab-watch", .password = "pw"},
                   "Permissions Violation");
    assert_int_equal(start(&(ens_convention_opts){.user = "lab-a", .password = "pa"}, &sys_a), 0);
    assert_int_equal(start(&(ens_convention_opts){.user = "lab-b", .password = "pb"}, &sys_b), 0);
    ens_addr echo = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_b), &echo_def, NULL, NULL, &echo), 0);
    test_expect_echo(ens_system_ctx(sys_a), echo, "within the account", TEST_WAIT_MS);

    ens_system *prod = NULL;
    assert_int_equal(start(&(ens_convention_opts){.user = "prod-a", .password = "pp"}, &prod), 0);
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(prod), echo, &ens_msg_string, &(ens_string_v){"across?"},
                     TEST_WAIT_MS, &r);
    ens_msg_free(r);
    ens_system_stop(prod, 5000);
    assert_int_equal(rc, ENS_ENOACTOR); /* no system of its convention has that node */
}

/* A server that does not answer is not a refusal: the start goes on and
 * the gateway keeps trying (as before credentials existed). */
static void test_an_unreachable_server_is_not_a_refusal(void **state)
{
    (void)state;
    NEED(test_nats_program() != NULL, "nats-server");
    start_server("authorization { user: alice, password: s3cret }\n");
    char url[64];
    snprintf(url, sizeof(url), "%s", server.url);
    test_nats_stop(&server);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_path = "/dev/null";
    o.call_timeout_ms = 500; /* how long the start waits to join */
    o.convention = (ens_convention_opts){
        .servers = url, .name = conv_name, .user = "alice", .password = "s3cret"};
    assert_int_equal(ens_system_start(&o, &sys_a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_and_password, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_a_wrong_password_is_ens_eauth_with_the_reason,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_token_right_and_wrong, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_with_the_ca_works, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_with_a_mismatched_name_is_ens_eauth, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_without_the_ca_is_ens_eauth, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_accounts_isolate_conventions, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_an_unreachable_server_is_not_a_refusal, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

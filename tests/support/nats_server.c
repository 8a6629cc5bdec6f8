/*
 * tests/support/nats_server.c - starting and stopping a private nats-server
 * for a test (nats_server.h). The port is found by binding port 0 on
 * 127.0.0.1 and closing it again; another process may take it before the
 * server binds, so a server that exits early is started again on a new
 * port until the deadline. Every server started is also remembered for an
 * atexit handler of the starting process, so a test that fails half way
 * leaves no server and no directory behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/nats_server.h"

#define LIVE_MAX 8

/* Servers running, for the atexit handler: only the process that started
 * them (not a forked child that exits) stops them. */
static struct {
    pid_t pid;
    char dir[64];
} live[LIVE_MAX];
static pid_t live_owner;
static bool atexit_set;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path); /* best effort: go on with the rest */
    return 0;
}

static void remove_dir(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void kill_and_reap(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static void stop_all_at_exit(void)
{
    if (getpid() != live_owner)
        return;
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live[i].pid > 0) {
            kill_and_reap(live[i].pid);
            remove_dir(live[i].dir);
            live[i].pid = 0;
        }
    }
}

static void remember(const test_nats *n)
{
    if (!atexit_set) {
        atexit(stop_all_at_exit);
        atexit_set = true;
    }
    live_owner = getpid();
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live[i].pid == 0) {
            live[i].pid = n->pid;
            snprintf(live[i].dir, sizeof(live[i].dir), "%s", n->dir);
            return;
        }
    }
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < LIVE_MAX; i++)
        if (live[i].pid == pid)
            live[i].pid = 0;
}

const char *test_nats_program(void)
{
    static const char *const where[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                                        "/usr/local/bin/nats-server"};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

/* A port of 127.0.0.1 free at the time of asking, or -1. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

bool test_nats_accepts(const test_nats *n)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (ok) {
        /* A NATS server speaks first: "INFO {...}". */
        struct pollfd p = {fd, POLLIN, 0};
        char buf[5] = {0};
        ok = poll(&p, 1, 5000) == 1 && recv(fd, buf, 4, 0) == 4 && memcmp(buf, "INFO", 4) == 0;
    }
    close(fd);
    return ok;
}

static pid_t spawn_server(const char *prog, const test_nats *n)
{
    char port[16], store[96], log[96];
    snprintf(port, sizeof(port), "%d", n->port);
    snprintf(store, sizeof(store), "%s/store", n->dir);
    snprintf(log, sizeof(log), "%s/server.log", n->dir);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* cmocka's handlers must not outlive the exec's first instructions. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    if (n->cluster_port > 0) {
        char cluster[64];
        snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%d", n->cluster_port);
        execl(prog, prog, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store, "-l", log,
              "--server_name", n->name, "--cluster_name", "ens-test", "--cluster", cluster,
              "--routes", n->routes, (char *)NULL);
    } else if (n->conf[0] != '\0') {
        execl(prog, prog, "-c", n->conf, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store, "-l",
              log, (char *)NULL);
    } else {
        execl(prog, prog, "-js", "-a", "127.0.0.1", "-p", port, "-sd", store, "-l", log,
              (char *)NULL);
    }
    _exit(127);
}

static int start_in(test_nats *n, const char *prog, int wait_ms);

int test_nats_start(test_nats *n, int wait_ms)
{
    return test_nats_start_with(n, NULL, wait_ms);
}

int test_nats_start_with(test_nats *n, const char *config, int wait_ms)
{
    memset(n, 0, sizeof(*n));
    const char *prog = test_nats_program();
    if (prog == NULL) {
        fprintf(stderr, "nats-server is not installed (scripts/deps.sh installs it)\n");
        return -1;
    }
    snprintf(n->dir, sizeof(n->dir), "/tmp/ens-nats-XXXXXX");
    if (mkdtemp(n->dir) == NULL) {
        fprintf(stderr, "nats-server: no scratch directory: %s\n", strerror(errno));
        n->dir[0] = '\0';
        return -1;
    }
    if (config != NULL) {
        snprintf(n->conf, sizeof(n->conf), "%s/server.conf", n->dir);
        FILE *f = fopen(n->conf, "w");
        bool written = f != NULL && fputs(config, f) >= 0;
        if (f != NULL && fclose(f) != 0)
            written = false;
        if (!written) {
            fprintf(stderr, "nats-server: the configuration was not written: %s\n",
                    strerror(errno));
            remove_dir(n->dir);
            n->dir[0] = '\0';
            return -1;
        }
    }
    return start_in(n, prog, wait_ms);
}

static int start_in(test_nats *n, const char *prog, int wait_ms)
{
    test_deadline d = test_deadline_in(wait_ms);
    while (!test_deadline_passed(d)) {
        n->port = free_port();
        if (n->port < 0) {
            test_nap_ms(50);
            continue;
        }
        n->pid = spawn_server(prog, n);
        if (n->pid < 0) {
            n->pid = 0;
            test_nap_ms(50);
            continue;
        }
        remember(n);
        snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d", n->port);
        /* Up until it accepts, or it exited (the port was taken: another). */
        while (!test_deadline_passed(d)) {
            if (test_nats_accepts(n))
                return 0;
            if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
                forget(n->pid);
                n->pid = 0;
                break;
            }
            test_nap_ms(20); /* a TCP port offers nothing to wait on */
        }
        if (n->pid > 0) {
            forget(n->pid);
            kill_and_reap(n->pid);
            n->pid = 0;
        }
    }
    fprintf(stderr, "nats-server did not accept connections within %d ms\n", wait_ms);
    remove_dir(n->dir);
    n->dir[0] = '\0';
    return -1;
}

int test_nats_restart(test_nats *n, int wait_ms)
{
    const char *prog = test_nats_program();
    if (prog == NULL || n->dir[0] == '\0')
        return -1;
    if (n->pid > 0) {
        forget(n->pid);
        kill_and_reap(n->pid);
        n->pid = 0;
    }
    test_deadline d = test_deadline_in(wait_ms);
    while (!test_deadline_passed(d)) {
        n->pid = spawn_server(prog, n);
        if (n->pid < 0) {
            n->pid = 0;
            test_nap_ms(50);
            continue;
        }
        remember(n);
        while (!test_deadline_passed(d)) {
            if (test_nats_accepts(n))
                return 0;
            if (waitpid(n->pid, NULL, WNOHANG) == n->pid) { /* the port not free yet: again */
                forget(n->pid);
                n->pid = 0;
                test_nap_ms(50); /* nothing tells when the old socket is gone */
                break;
            }
            test_nap_ms(20); /* a TCP port offers nothing to wait on */
        }
    }
    if (n->pid > 0) {
        forget(n->pid);
        kill_and_reap(n->pid);
        n->pid = 0;
    }
    fprintf(stderr, "nats-server did not accept connections again within %d ms\n", wait_ms);
    return -1;
}

void test_nats_stop(test_nats *n)
{
    if (n->pid > 0) {
        forget(n->pid);
        kill_and_reap(n->pid);
        n->pid = 0;
    }
    remove_dir(n->dir);
    n->dir[0] = '\0';
}

int test_nats_start_cluster(test_nats *n, size_t count, int wait_ms)
{
    if (count == 0 || count > 5) {
        fprintf(stderr, "nats-server: a test cluster has 1-5 servers\n");
        return -1;
    }
    const char *prog = test_nats_program();
    if (prog == NULL) {
        fprintf(stderr, "nats-server is not installed (scripts/deps.sh installs it)\n");
        return -1;
    }
    memset(n, 0, count * sizeof(*n));
    /* Ports first (each bound and freed: another process may take one
     * meanwhile; then that server exits and the whole start fails). */
    char routes[512] = "";
    for (size_t i = 0; i < count; i++) {
        n[i].port = free_port();
        n[i].cluster_port = free_port();
        if (n[i].port < 0 || n[i].cluster_port < 0 || n[i].port == n[i].cluster_port) {
            fprintf(stderr, "nats-server: no free port for a cluster\n");
            return -1;
        }
        size_t len = strlen(routes);
        snprintf(routes + len, sizeof(routes) - len, "%snats://127.0.0.1:%d", i > 0 ? "," : "",
                 n[i].cluster_port);
    }
    test_deadline d = test_deadline_in(wait_ms);
    for (size_t i = 0; i < count; i++) {
        snprintf(n[i].name, sizeof(n[i].name), "s%zu", i + 1);
        snprintf(n[i].routes, sizeof(n[i].routes), "%s", routes);
        snprintf(n[i].url, sizeof(n[i].url), "nats://127.0.0.1:%d", n[i].port);
        snprintf(n[i].dir, sizeof(n[i].dir), "/tmp/ens-nats-XXXXXX");
        if (mkdtemp(n[i].dir) == NULL) {
            fprintf(stderr, "nats-server: no scratch directory: %s\n", strerror(errno));
            n[i].dir[0] = '\0';
            goto fail;
        }
        n[i].pid = spawn_server(prog, &n[i]);
        if (n[i].pid < 0) {
            n[i].pid = 0;
            fprintf(stderr, "nats-server: fork: %s\n", strerror(errno));
            goto fail;
        }
        remember(&n[i]);
    }
    for (size_t i = 0; i < count; i++) {
        while (!test_nats_accepts(&n[i])) {
            if (waitpid(n[i].pid, NULL, WNOHANG) == n[i].pid) {
                forget(n[i].pid);
                n[i].pid = 0;
                fprintf(stderr, "nats-server %s exited at start (a port taken?)\n", n[i].name);
                goto fail;
            }
            if (test_deadline_passed(d)) {
                fprintf(stderr, "nats-server %s did not accept connections within %d ms\n",
                        n[i].name, wait_ms);
                goto fail;
            }
            test_nap_ms(20); /* a TCP port offers nothing to wait on */
        }
    }
    return 0;
fail:
    for (size_t i = 0; i < count; i++)
        test_nats_stop(&n[i]);
    return -1;
}

const char *test_nats_cluster_urls(const test_nats *n, size_t count, size_t first)
{
    static char urls[512];
    urls[0] = '\0';
    for (size_t k = 0; k < count; k++) {
        size_t len = strlen(urls);
        snprintf(urls + len, sizeof(urls) - len, "%s%s", k > 0 ? "," : "",
                 n[(first + k) % count].url);
    }
    return urls;
}

/*
 * tests/support/netns.c - three hosts of a convention for tests (netns.h).
 * Namespaces and links are made with `ip` (iproute2); servers and systems
 * are started by fork, after setns() into their namespace, so every pid is
 * ours to kill. The clusters started are remembered for an atexit handler
 * of the starting process (a forked host process never runs it).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/nats_server.h"
#include "support/netns.h"

static const char *const host_letter[TEST_CLUSTER_HOSTS] = {"a", "b", "c"};

#define LIVE_MAX 4
static test_cluster *live[LIVE_MAX];
static pid_t live_owner;
static bool atexit_set;

static void stop_all_at_exit(void)
{
    if (getpid() != live_owner)
        return;
    for (size_t i = 0; i < LIVE_MAX; i++)
        if (live[i] != NULL)
            test_cluster_stop(live[i]);
}

static void remember(test_cluster *cl)
{
    if (!atexit_set) {
        atexit(stop_all_at_exit);
        atexit_set = true;
    }
    live_owner = getpid();
    for (size_t i = 0; i < LIVE_MAX; i++)
        if (live[i] == cl)
            return;
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live[i] == NULL) {
            live[i] = cl;
            return;
        }
    }
}

static void forget(test_cluster *cl)
{
    for (size_t i = 0; i < LIVE_MAX; i++)
        if (live[i] == cl)
            live[i] = NULL;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path); /* best effort: go on with the rest */
    return 0;
}

static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Run `ip` with the words of the formatted line (none has a space);
 * quiet unless it fails and loud. Returns its exit status, or -1. */
static int run_ip(bool loud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run_ip(bool loud, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *argv[24];
    int n = 0;
    argv[n++] = "ip";
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w != NULL && n < 23;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 1);
            if (!loud)
                dup2(null, 2);
        }
        execvp("ip", argv);
        execv("/usr/sbin/ip", argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc != 0 && loud) {
        fprintf(stderr, "netns: `ip");
        for (int i = 1; i < n; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "` failed (%d)\n", rc);
    }
    return rc;
}

/* Enter network namespace ns (a name under /run/netns). */
static int enter_ns(const char *ns)
{
    char path[64];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

bool test_cluster_netns_possible(char *why, size_t len)
{
    if (geteuid() != 0) {
        snprintf(why, len, "network namespaces need root (euid %d)", (int)geteuid());
        return false;
    }
    if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0 &&
        access("/usr/bin/ip", X_OK) != 0) {
        snprintf(why, len, "ip (iproute2) is not installed");
        return false;
    }
    char ns[32];
    snprintf(ns, sizeof(ns), "ens-probe-%d", (int)getpid());
    if (run_ip(false, "netns add %s", ns) != 0) {
        snprintf(why, len, "`ip netns add` is refused here (a container without CAP_SYS_ADMIN?)");
        return false;
    }
    bool ok = run_ip(false, "-n %s link add p0 type bridge", ns) == 0;
    run_ip(false, "netns del %s", ns);
    if (!ok)
        snprintf(why, len, "bridges cannot be made in a namespace here");
    return ok;
}

/* ---- ports and servers ------------------------------------------------ */

/* n ports of 127.0.0.1 free now, all different (held open together). */
static int free_ports(int *ports, int n)
{
    int fds[16];
    int rc = 0, got = 0;
    for (; got < n; got++) {
        fds[got] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof(sa);
        if (fds[got] < 0 || bind(fds[got], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            getsockname(fds[got], (struct sockaddr *)&sa, &sl) != 0) {
            rc = -1;
            got++;
            break;
        }
        ports[got] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < got; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

static pid_t spawn_server(test_cluster *cl, int i)
{
    test_cluster_host *h = &cl->h[i];
    char port[16], http[16], store[96], log[96], cluster[64], routes[256] = "";
    snprintf(port, sizeof(port), "%d", h->port);
    snprintf(http, sizeof(http), "%d", h->http_port);
    snprintf(store, sizeof(store), "%s/store", h->dir);
    snprintf(log, sizeof(log), "%s/server.log", h->dir);
    snprintf(cluster, sizeof(cluster), "nats://%s:%d", h->addr, h->route_port);
    for (int j = 0; j < TEST_CLUSTER_HOSTS; j++) {
        size_t l = strlen(routes);
        snprintf(routes + l, sizeof(routes) - l, "%snats://%s:%d", j > 0 ? "," : "", cl->h[j].addr,
                 cl->h[j].route_port);
    }
    const char *prog = test_nats_program();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A test killed outright (a ctest timeout) runs no atexit: its
     * servers go with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (cl->netns && enter_ns(h->ns) != 0)
        _exit(126);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    execl(prog, prog, "-js", "-sd", store, "-a", h->addr, "-p", port, "-m", http, "-l", log,
          "--server_name", host_letter[i], "--cluster_name", cl->conv, "--cluster", cluster,
          "--routes", routes, (char *)NULL);
    _exit(127);
}

/* GET path from the HTTP server at addr:port into buf (NUL-terminated,
 * cut to len - 1); false if it could not be asked or did not answer. */
static bool http_get(const char *addr, int port, const char *path, char *buf, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    size_t got_len = 0;
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        char get[128];
        int n = snprintf(get, sizeof(get), "GET %s HTTP/1.0\r\n\r\n", path);
        if (write(fd, get, (size_t)n) == n) {
            test_deadline d = test_deadline_in(5000);
            ok = true;
            while (got_len < len - 1) {
                struct pollfd p = {fd, POLLIN, 0};
                if (poll(&p, 1, test_deadline_left_ms(d)) != 1) {
                    ok = false;
                    break;
                }
                ssize_t got = read(fd, buf + got_len, len - 1 - got_len);
                if (got < 0 && errno == EINTR)
                    continue;
                if (got <= 0)
                    break;
                got_len += (size_t)got;
            }
        }
    }
    buf[got_len] = '\0';
    close(fd);
    return ok;
}

/* True once the server at addr:port (monitoring) answers /healthz "ok":
 * it runs, and JetStream has a meta leader. */
/* The server's health: every stream and consumer current, or (server_only)
 * its JetStream current with the cluster's meta leader. */
static bool server_healthy(const char *addr, int port, bool server_only)
{
    char buf[1024];
    return http_get(addr, port, server_only ? "/healthz?js-server-only=true" : "/healthz", buf,
                    sizeof(buf)) &&
           (strstr(buf, "\"status\":\"ok\"") != NULL || strstr(buf, "\"status\": \"ok\"") != NULL);
}

/* The server (0-2) whose clients include system's gateway, or -1. */
static int server_of(test_cluster *cl, const char *system)
{
    static char buf[1 << 18];
    char key[96];
    snprintf(key, sizeof(key), "\"ensemble %s node", system);
    for (int j = 0; j < TEST_CLUSTER_HOSTS; j++)
        if (cl->h[j].nats > 0 &&
            http_get(cl->h[j].addr, cl->h[j].http_port, "/connz", buf, sizeof(buf)) &&
            strstr(buf, key) != NULL)
            return j;
    return -1;
}

/* How a TCP connection to host j's server fares from here within 2 s:
 * "connected", "refused", "silent" (no answer at all: a cut link; its
 * ARP query unanswered counts, as no router stands between hosts) or
 * "error <errno>". */
static const char *probe(test_cluster *cl, int j)
{
    static char text[32];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return "error socket";
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->h[j].port)};
    inet_pton(AF_INET, cl->h[j].addr, &sa.sin_addr);
    int err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        test_deadline d = test_deadline_in(2000);
        int k;
        while ((k = poll(&p, 1, test_deadline_left_ms(d))) < 0 && errno == EINTR)
            ;
        socklen_t len = sizeof(err);
        if (k == 0)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    close(fd);
    if (err == 0)
        return "connected";
    if (err == ECONNREFUSED)
        return "refused";
    /* EHOSTUNREACH on one link without a router: this host's own ARP
     * query went unanswered, nothing came from the other side. */
    if (err == ETIMEDOUT || err == EHOSTUNREACH)
        return "silent";
    snprintf(text, sizeof(text), "error %d", err);
    return text;
}

/* ---- the host process --------------------------------------------------- */

static pid_t gateway_of(pid_t admin)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)admin, (int)admin);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    pid_t found = 0;
    for (int pid; found == 0 && fscanf(f, "%d", &pid) == 1;) {
        char comm_path[64], comm[32] = "";
        snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", pid);
        FILE *c = fopen(comm_path, "r");
        if (c == NULL)
            continue;
        if (fgets(comm, sizeof(comm), c) != NULL && strncmp(comm, "ens-gateway", 11) == 0)
            found = pid;
        fclose(c);
    }
    fclose(f);
    return found;
}

static void send_line(int fd, char *text)
{
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    size_t len = strlen(text);
    text[len] = '\n';
    for (size_t off = 0; off < len + 1;) {
        ssize_t w = write(fd, text + off, len + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    text[len] = '\0';
}

/* One line from fd, waiting up to wait_ms; -1 on end, error or timeout. */
static int read_line(int fd, char *buf, size_t len, int wait_ms)
{
    test_deadline d = test_deadline_in(wait_ms);
    size_t n = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int k = poll(&p, 1, wait_ms < 0 ? -1 : test_deadline_left_ms(d));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        char ch;
        ssize_t got = read(fd, &ch, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        if (ch == '\n') {
            buf[n] = '\0';
            return 0;
        }
        if (n + 1 < len)
            buf[n++] = ch;
    }
}

static void host_main(test_cluster *cl, int i, int cmd, int reply, int wait_ms)
{
    test_cluster_host *h = &cl->h[i];
    char line[8192];
    if (cl->netns && enter_ns(h->ns) != 0) {
        snprintf(line, sizeof(line), "error setns %s: %s", h->ns, strerror(errno));
        send_line(reply, line);
        _exit(1);
    }
    /* A system started again finds its server running since the cluster
     * began: only that server's JetStream must be current. nats-server
     * 2.9.10 may keep, for minutes, an orphan ephemeral consumer "not
     * current" (one made when a partition healed, for a read that had
     * given up), which fails the full check without touching the
     * buckets. */
    test_deadline d = test_deadline_in(wait_ms);
    while (!server_healthy(h->addr, h->http_port, h->started)) {
        if (test_deadline_passed(d)) {
            snprintf(line, sizeof(line), "error server %s not healthy within %d ms", host_letter[i],
                     wait_ms);
            send_line(reply, line);
            _exit(1);
        }
        test_nap_ms(100); /* an HTTP endpoint offers nothing to wait on */
    }
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = h->system;
    char journal[160];
    snprintf(journal, sizeof(journal), "%s/%s.db", cl->journal_dir, h->system);
    o.journal_path = cl->journal_dir[0] != '\0' ? journal : "";
    /* ENS_TEST_NETNS_LOG_DIR: each system logs at debug level to
     * <dir>/<system>.log (a failed run's story); otherwise nowhere. */
    char log[160];
    const char *log_dir = getenv("ENS_TEST_NETNS_LOG_DIR");
    if (log_dir != NULL && log_dir[0] != '\0') {
        snprintf(log, sizeof(log), "%s/%s.log", log_dir, h->system);
        o.log_path = log;
        o.log_level = ENS_LOG_DEBUG;
    } else {
        o.log_path = "/dev/null";
    }
    o.convention.servers = h->servers;
    o.convention.name = cl->conv;
    o.convention.heartbeat_ms = cl->heartbeat_ms;
    o.convention.capabilities = cl->caps[i];
    ens_system *sys = NULL;
    int rc = ens_system_start(&o, &sys);
    if (rc != 0) {
        snprintf(line, sizeof(line), "error start %s: %s: %s", h->system, ens_strerror(rc),
                 ens_errmsg());
        send_line(reply, line);
        _exit(1);
    }
    snprintf(line, sizeof(line), "ready");
    send_line(reply, line);
    for (;;) {
        char in[1024];
        if (read_line(cmd, in, sizeof(in), -1) < 0)
            break; /* the test is gone */
        if (strcmp(in, "pids") == 0) {
            int uid = -1, admin = 0;
            ens_system_holder(h->system, &uid, &admin);
            struct stat st = {0};
            stat("/proc/self/ns/net", &st);
            snprintf(line, sizeof(line), "admin=%d gateway=%d node=%u netns=%llu", admin,
                     (int)gateway_of(admin), (unsigned)ens_self(ens_system_ctx(sys)).node,
                     (unsigned long long)st.st_ino);
        } else if (strcmp(in, "server-of") == 0) {
            snprintf(line, sizeof(line), "server=%d", server_of(cl, h->system));
        } else if (strncmp(in, "probe ", 6) == 0 && in[6] >= '0' && in[6] <= '2') {
            snprintf(line, sizeof(line), "%s", probe(cl, in[6] - '0'));
        } else if (strcmp(in, "stop") == 0) {
            rc = ens_system_stop(sys, 10000);
            snprintf(line, sizeof(line), "stopped %d", rc);
            send_line(reply, line);
            _exit(0);
        } else {
            line[0] = '\0';
            rc = cl->serve != NULL ? cl->serve(sys, i, in, line, sizeof(line) - 1) : ENS_ENOTSUP;
            if (rc < 0)
                snprintf(line, sizeof(line), "error %d %s", rc, ens_strerror(rc));
        }
        send_line(reply, line);
    }
    ens_system_stop(sys, 5000);
    _exit(0);
}

int test_cluster_start_host(test_cluster *cl, int i, int wait_ms)
{
    test_cluster_host *h = &cl->h[i];
    int cmd[2], reply[2];
    if (pipe2(cmd, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(reply, O_CLOEXEC) != 0) {
        close(cmd[0]);
        close(cmd[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(cmd[0]), close(cmd[1]), close(reply[0]), close(reply[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* as the servers: see spawn_server */
        close(cmd[1]);
        close(reply[0]);
        host_main(cl, i, cmd[0], reply[1], wait_ms);
        _exit(0);
    }
    setpgid(pid, pid); /* either side may run first */
    close(cmd[0]);
    close(reply[1]);
    h->host = pid;
    h->cmd = cmd[1];
    h->reply = reply[0];
    char line[1024];
    if (read_line(h->reply, line, sizeof(line), wait_ms + TEST_WAIT_MS) < 0 ||
        strcmp(line, "ready") != 0) {
        fprintf(stderr, "netns: host %s did not start: %s\n", host_letter[i],
                line[0] != '\0' ? line : "no word");
        test_cluster_kill_host(cl, i);
        return -1;
    }
    h->started = true;
    return 0;
}

void test_cluster_kill_host(test_cluster *cl, int i)
{
    test_cluster_host *h = &cl->h[i];
    if (h->host > 0) {
        kill(-h->host, SIGKILL);
        kill(h->host, SIGKILL);
        reap(h->host);
        h->host = 0;
    }
    if (h->cmd > 0)
        close(h->cmd);
    if (h->reply > 0)
        close(h->reply);
    h->cmd = h->reply = -1;
}

int test_cluster_call(test_cluster *cl, int i, const char *cmd, char *reply, size_t len,
                      int wait_ms)
{
    test_cluster_host *h = &cl->h[i];
    if (h->host <= 0) {
        snprintf(reply, len, "host %s is not running", host_letter[i]);
        return -1;
    }
    char line[1024];
    snprintf(line, sizeof(line), "%s", cmd);
    signal(SIGPIPE, SIG_IGN);
    send_line(h->cmd, line);
    if (read_line(h->reply, reply, len, wait_ms) < 0) {
        snprintf(reply, len, "host %s did not answer \"%s\" within %d ms", host_letter[i], cmd,
                 wait_ms);
        return -1;
    }
    return 0;
}

long long test_cluster_field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; (p = strstr(p, key)) != NULL; p += kl) {
        if ((p == text || p[-1] == ' ') && p[kl] == '=')
            return strtoll(p + kl + 1, NULL, 10);
    }
    return -1;
}

/* ---- the network ---------------------------------------------------------- */

/* Delete the namespaces "ens-PID-*" of test runs that were killed
 * outright (PID no longer runs): their atexit never ran. */
static void delete_stale_namespaces(void)
{
    DIR *d = opendir("/run/netns");
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int pid = 0, end = 0;
        if (sscanf(e->d_name, "ens-%d-%*[a-z]%n", &pid, &end) == 1 && end > 0 &&
            e->d_name[end] == '\0' && pid > 0 && pid != (int)getpid() && kill(pid, 0) != 0 &&
            errno == ESRCH)
            run_ip(false, "netns del %s", e->d_name);
    }
    closedir(d);
}

static int make_namespaces(test_cluster *cl)
{
    int pid = (int)getpid();
    delete_stale_namespaces();
    snprintf(cl->bridge_ns, sizeof(cl->bridge_ns), "ens-%d-br", pid);
    if (run_ip(true, "netns add %s", cl->bridge_ns) != 0)
        return -1;
    if (run_ip(true, "-n %s link add br0 type bridge", cl->bridge_ns) != 0 ||
        run_ip(true, "-n %s link set br0 up", cl->bridge_ns) != 0 ||
        run_ip(true, "-n %s link set lo up", cl->bridge_ns) != 0)
        return -1;
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        test_cluster_host *h = &cl->h[i];
        snprintf(h->ns, sizeof(h->ns), "ens-%d-%s", pid, host_letter[i]);
        if (run_ip(true, "netns add %s", h->ns) != 0)
            return -1;
        /* The subnet is private to these namespaces: any will do. */
        snprintf(h->addr, sizeof(h->addr), "10.77.%d.%d", pid % 250, i + 1);
        if (run_ip(true, "-n %s link add v%s type veth peer name eth0 netns %s", cl->bridge_ns,
                   host_letter[i], h->ns) != 0 ||
            run_ip(true, "-n %s link set v%s master br0 up", cl->bridge_ns, host_letter[i]) != 0 ||
            run_ip(true, "-n %s addr add %s/24 dev eth0", h->ns, h->addr) != 0 ||
            run_ip(true, "-n %s link set eth0 up", h->ns) != 0 ||
            run_ip(true, "-n %s link set lo up", h->ns) != 0)
            return -1;
        h->port = 4222;
        h->route_port = 6222;
        h->http_port = 8222;
    }
    return 0;
}

int test_cluster_cut(test_cluster *cl, int i, bool cut)
{
    if (cl->netns)
        return run_ip(true, "-n %s link set v%s %s", cl->bridge_ns, host_letter[i],
                      cut ? "down" : "up") == 0
                   ? 0
                   : -1;
    char reply[256];
    if (test_cluster_call(cl, i, "pids", reply, sizeof(reply), TEST_WAIT_MS) != 0) {
        fprintf(stderr, "netns: %s\n", reply);
        return -1;
    }
    long long gw = test_cluster_field(reply, "gateway");
    if (gw <= 0 || kill((pid_t)gw, cut ? SIGSTOP : SIGCONT) != 0) {
        fprintf(stderr, "netns: no gateway to %s in \"%s\"\n", cut ? "stop" : "continue", reply);
        return -1;
    }
    return 0;
}

void test_cluster_kill_server(test_cluster *cl, int i)
{
    if (cl->h[i].nats > 0) {
        kill(cl->h[i].nats, SIGKILL);
        reap(cl->h[i].nats);
        cl->h[i].nats = 0;
    }
}

int test_cluster_start(test_cluster *cl, bool netns, const char *const caps[TEST_CLUSTER_HOSTS],
                       uint32_t heartbeat_ms, test_cluster_serve_cb serve, const char *journal_dir,
                       int wait_ms)
{
    memset(cl, 0, sizeof(*cl));
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        cl->h[i].cmd = cl->h[i].reply = -1;
    cl->netns = netns;
    cl->heartbeat_ms = heartbeat_ms;
    cl->serve = serve;
    if (journal_dir != NULL)
        snprintf(cl->journal_dir, sizeof(cl->journal_dir), "%s", journal_dir);
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        cl->caps[i] = caps != NULL ? caps[i] : NULL;
    snprintf(cl->conv, sizeof(cl->conv), "ns%d%s", (int)getpid(), netns ? "n" : "l");
    if (test_nats_program() == NULL) {
        fprintf(stderr, "netns: nats-server is not installed\n");
        return -1;
    }
    remember(cl);
    if (netns) {
        if (make_namespaces(cl) != 0)
            goto fail;
    } else {
        int ports[3 * TEST_CLUSTER_HOSTS];
        if (free_ports(ports, 3 * TEST_CLUSTER_HOSTS) != 0) {
            fprintf(stderr, "netns: no free ports\n");
            goto fail;
        }
        for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
            snprintf(cl->h[i].addr, sizeof(cl->h[i].addr), "127.0.0.1");
            cl->h[i].port = ports[3 * i];
            cl->h[i].route_port = ports[3 * i + 1];
            cl->h[i].http_port = ports[3 * i + 2];
        }
    }
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        test_cluster_host *h = &cl->h[i];
        snprintf(h->system, sizeof(h->system), "%s-%s", cl->conv, host_letter[i]);
        snprintf(h->dir, sizeof(h->dir), "/tmp/ens-cluster-XXXXXX");
        if (mkdtemp(h->dir) == NULL) {
            h->dir[0] = '\0';
            fprintf(stderr, "netns: no scratch directory: %s\n", strerror(errno));
            goto fail;
        }
        /* Its own server first, then the others. */
        size_t l = 0;
        for (int k = 0; k < TEST_CLUSTER_HOSTS; k++) {
            int j = (i + k) % TEST_CLUSTER_HOSTS;
            l += (size_t)snprintf(h->servers + l, sizeof(h->servers) - l, "%snats://%s:%d",
                                  k > 0 ? "," : "", cl->h[j].addr, cl->h[j].port);
        }
    }
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        cl->h[i].nats = spawn_server(cl, i);
        if (cl->h[i].nats < 0) {
            cl->h[i].nats = 0;
            fprintf(stderr, "netns: cannot fork a server\n");
            goto fail;
        }
    }
    /* Each host process waits for its own server's health. The first
     * system creates the buckets: the others start after it. */
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        if (test_cluster_start_host(cl, i, wait_ms) != 0) {
            for (int j = 0; j < TEST_CLUSTER_HOSTS; j++)
                if (cl->h[j].nats > 0 && waitpid(cl->h[j].nats, NULL, WNOHANG) == cl->h[j].nats) {
                    fprintf(stderr, "netns: server %s exited (its log: %s/server.log)\n",
                            host_letter[j], cl->h[j].dir);
                    cl->h[j].nats = 0;
                }
            goto fail;
        }
    }
    return 0;
fail:
    test_cluster_stop(cl);
    return -1;
}

void test_cluster_stop(test_cluster *cl)
{
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        test_cluster_kill_host(cl, i);
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        test_cluster_kill_server(cl, i);
        if (cl->h[i].dir[0] != '\0' && getenv("ENS_KEEP_CLUSTER_LOGS") == NULL)
            nftw(cl->h[i].dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        cl->h[i].dir[0] = '\0';
    }
    if (cl->netns) {
        for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
            if (cl->h[i].ns[0] != '\0')
                run_ip(false, "netns del %s", cl->h[i].ns);
            cl->h[i].ns[0] = '\0';
        }
        if (cl->bridge_ns[0] != '\0')
            run_ip(false, "netns del %s", cl->bridge_ns);
        cl->bridge_ns[0] = '\0';
    }
    forget(cl);
}
